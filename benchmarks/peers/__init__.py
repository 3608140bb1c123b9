"""Small Django projects for the peers (run only in benchmarks/.venv-peers)."""
