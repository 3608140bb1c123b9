"""`make mutate`: mutation testing of the engine's modules (mutmut, on PostgreSQL)."""
