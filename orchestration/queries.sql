-- The engine's statements on PostgreSQL, by name (loaded by orchestration/sql.py into
-- orchestration.queue_pg.QUERIES, which runs them; the portable twin of each operation, for
-- SQLite, is orchestration/queue_portable.py).
--
-- A query starts at its `-- name:` line; the comment lines right after it say why it is written
-- as it is and are not sent to the server (comments inside a statement are). `%(name)s` are
-- psycopg parameters; `{name}` are filled in by queue_pg.py when it composes a statement (the
-- NOTIFY, the run's columns); `%(now)s` reads the database's clock (queue_pg.NOW) unless a test's
-- clock must stand. A claim is a picking half (claim, claim_limited) + pick_eligible + claim_picked.

-- name: claim_picked
-- Why each clause is there:
-- - `status = 'queued' AND run_after <= now`: due work only; retries wait in run_after.
-- - `ORDER BY priority DESC, run_after, id`: priority first, then oldest due first;
--   it matches the partial index `task_claim_order`, so the scan stops after `limit` rows.
-- - `FOR UPDATE SKIP LOCKED`: rows another claimer is taking are skipped, not waited on.
-- - `attempt + CASE WHEN resume ...`: a continuation (a checkpointed attempt in a new invocation) goes on
--   with the same attempt.
-- - `lease_token`, `lease_expires_at`: the fence and the lease: the shorter of the
--   step's timeout and engine_settings.LEASE_SECONDS; a running attempt renews it (heartbeat.py).
-- - `attempts`: each claimed task's attempt row (its agent run), opened by the same
--   statement, so a claim is one round trip and one commit.
-- - the final SELECT: what the executor needs, with the outputs of the steps each
--   task needs (`needs ? step`: the step is an element of the JSON array).
-- claim_picked is the second half of every claim: it turns the `picked` rows into running ones.
claimed AS (
    UPDATE orchestration_task AS t
    SET status = 'running',
        attempt = t.attempt + CASE WHEN t.resume THEN 0 ELSE 1 END,
        resume = false,
        lease_token = %(token)s,
        lease_expires_at = %(now)s + make_interval(secs => LEAST(t.timeout_seconds, %(lease)s)),
        claimed_by = %(worker)s,
        started_at = COALESCE(t.started_at, %(now)s)
    FROM picked
    WHERE t.id = picked.id
    RETURNING t.id, t.run_id, t.step, t.action, t.needs, t.attempt, t.max_attempts, t.input, t.cursor,
              t.timeout_seconds, t.lease_expires_at, t.idempotency_key
),
attempts AS (
    INSERT INTO orchestration_agentrun (
        task_id, run_id, action, attempt, lease_token, worker, outcome, started_at, error_type, error
    )
    SELECT id, run_id, action, attempt, %(token)s, %(worker)s, 'running', %(now)s, '', '' FROM claimed
)
SELECT false AS blocked, c.id, c.run_id, c.step, c.action, c.needs, c.attempt, c.max_attempts, c.input, c.cursor,
       c.timeout_seconds, c.lease_expires_at, c.idempotency_key,
       (SELECT jsonb_object_agg(d.step, d.output) FROM orchestration_task AS d
        WHERE c.run_id IS NOT NULL AND d.run_id = c.run_id AND c.needs ? d.step) AS inputs
FROM claimed AS c

-- name: blocked_marker
-- The one row a blocked claim returns instead of claimed tasks (the columns of claim_picked's SELECT).
UNION ALL
SELECT true, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM blocked

-- name: pick_eligible
-- `picked` takes every plain task among the candidates but one workflow step at most: steps
-- take seconds, and a worker runs its batch one task after another, so a second step would
-- wait (its lease ticking) while other workers sit idle, and a crash would cost it an attempt
-- it never started. `AND NOT EXISTS (SELECT 1 FROM blocked)`: see claim. (The candidates
-- are one scan of the claim index, bounded by `limit` whatever the queue holds; the steps it
-- locks and does not take are free again when the statement ends.)
picked AS (
    SELECT id FROM eligible WHERE run_id IS NULL AND NOT EXISTS (SELECT 1 FROM blocked)
    UNION ALL
    (SELECT id FROM eligible WHERE run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blocked)
     ORDER BY priority DESC, run_after, id LIMIT 1)
),

-- name: claim
-- The one-statement claim (autocommit: no BEGIN/COMMIT round trips). `blocked`: a row of a
-- limited key among the candidates means this statement takes nothing and says so (the
-- marker row), and the claim goes down the locking path below; with no limits configured
-- `patterns` is empty and nothing is ever blocked.
-- A claim's commit does not wait for its WAL to reach the disk (`synchronous_commit` off for
-- the claim's transaction only: SET LOCAL, so it works through PgBouncer too): that wait is
-- most of a claim's time here (a flush per claim, 0.5-2 ms), and nothing relies on a claim
-- being durable. A claim lost in a server crash leaves its task queued with no lease, which
-- is what a lost lease leads to anyway: the task runs again, and the first worker's report is
-- fenced off as stale (its token is on no row). A claim is never lost once anything durable
-- follows it: WAL is flushed in order, so the commit of the task's completion (synchronous,
-- like every other commit: enqueues, completions, failures, operator acts) flushes it too.
-- Written as a condition of the first scan, so it is set on every execution, rows or none.
--
WITH eligible AS (
    SELECT id, run_id, priority, run_after, concurrency_key FROM orchestration_task
    WHERE status = 'queued' AND run_after <= %(now)s
      -- the execute route runs one workflow run's work only
      AND (%(run_id)s::uuid IS NULL OR run_id = %(run_id)s::uuid)
      AND (SELECT set_config('synchronous_commit', 'off', true)) = 'off'  -- see "A claim's commit"
    ORDER BY priority DESC, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
blocked AS (
    SELECT 1 FROM eligible WHERE concurrency_key LIKE ANY(%(patterns)s::text[]) LIMIT 1
),

-- name: lock_limited_keys
-- Step one of a claim under limits: a window of the due rows, and a try-lock on each
-- limited key among them, held until this transaction ends. Bounded by `limit` whatever the
-- backlog: a claim that locked every limited key with due work took one lock-table entry per
-- key, and 14,000 distinct `project:<n>` keys exhausted it (`out of shared memory`).
-- - `running`, `full_keys`: the limited keys at their limit, counted from the running rows
--   (bounded by what runs, not by what waits). A key's limit is its exact entry, else its
--   longest matching prefix (ConcurrencyLimits.limit_of). `LIKE ANY(patterns)` matches the
--   configured keys and prefixes.
-- - `claim_window`: the first `limit` due rows in claim order whose key is not full, so a full
--   key's backlog at the head of the queue hides nothing behind it. `FOR UPDATE SKIP LOCKED`:
--   concurrent claimers take disjoint windows (another claimer's window is skipped, as in
--   claim), instead of all reaching for the same keys and all but one coming back empty.
--   Row locks live in the rows, not in the lock table.
-- - `locked`: one try-lock per distinct limited key of the window (at most `limit`); the lock
--   id is a 64-bit hash of the key in our own namespace. A key another claimer holds is
--   skipped this time. (A CTE calling a volatile function is evaluated once per row of it.)
-- - the rows: every window row, with whether its key is limited and held; and a marker row
--   (id NULL) when some key is full: due work of a full key is not in the window, yet the next
--   claim should go on locking (the hint below), since the one-statement claim would meet it.
-- Which rows hold a concurrency slot ("holds a slot"): running attempts, and the attempts a cancel or
-- fail-fast fenced off (status 'cancelled', lease kept, no longer renewed) until their lease
-- runs out: they may still be executing, and the key's limit must hold meanwhile.
-- (The condition is written out in lock_limited_keys and claim_limited, marked
-- "holds a slot", and in queue_portable.pick_within_limits for SQLite.)
--
WITH running AS (
    SELECT concurrency_key AS key, count(*) AS n FROM orchestration_task
    WHERE (status = 'running' OR (status = 'cancelled' AND lease_expires_at > %(now)s))  -- holds a slot
      AND concurrency_key LIKE ANY(%(patterns)s::text[])
    GROUP BY concurrency_key
),
full_keys AS (
    SELECT r.key FROM running AS r
    WHERE r.n >= COALESCE(
        (SELECT e.lim FROM unnest(%(exact_keys)s::text[], %(exact_limits)s::int[]) AS e(key, lim) WHERE e.key = r.key),
        (SELECT p.lim FROM unnest(%(prefix_patterns)s::text[], %(prefix_lengths)s::int[], %(prefix_limits)s::int[])
             AS p(pattern, len, lim)
         WHERE r.key LIKE p.pattern ORDER BY p.len DESC LIMIT 1)
    )
),
claim_window AS (
    SELECT id, concurrency_key FROM orchestration_task
    WHERE status = 'queued' AND run_after <= %(now)s
      AND (%(run_id)s::uuid IS NULL OR run_id = %(run_id)s::uuid)
      AND concurrency_key NOT IN (SELECT key FROM full_keys)
    ORDER BY priority DESC, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
locked AS (
    SELECT k.key, pg_try_advisory_xact_lock(hashtextextended('orchestration.limit:' || k.key, 0)) AS held
    FROM (SELECT DISTINCT concurrency_key AS key FROM claim_window
          WHERE concurrency_key LIKE ANY(%(patterns)s::text[])) AS k
)
SELECT w.id, w.concurrency_key, l.key IS NOT NULL AS limited, COALESCE(l.held, false) AS held
FROM claim_window AS w LEFT JOIN locked AS l ON l.key = w.concurrency_key
UNION ALL
SELECT NULL, NULL, true, false WHERE EXISTS (SELECT 1 FROM full_keys)

-- name: claim_limited
-- Step two: the claim itself, in a new statement (a new snapshot under READ COMMITTED: it sees
-- every claim committed before our locks were granted).
-- - `cap`: the free slots of each key whose lock we hold: its limit less its running
--   attempts (a dead worker's attempt counts until its lease is recovered).
-- - `candidates`: step one's window rows (`ids`: those of unlimited keys and of keys we hold;
--   we hold their row locks), still queued, a limited one only if its key has a free slot:
--   looked up by primary key, so the statement reads at most `limit` rows.
-- - `eligible`: at most one row per limited key. A worker runs its batch one task after
--   another, so taking more would hoard the key's slots while other workers sit idle;
--   `picked` then keeps one workflow step at most, as in claim (nothing is `blocked`).
WITH cap AS (
    SELECT l.key, l.lim - (
        SELECT count(*) FROM orchestration_task AS r
        WHERE (r.status = 'running' OR (r.status = 'cancelled' AND r.lease_expires_at > %(now)s))  -- holds a slot
          AND r.concurrency_key = l.key
    ) AS free
    FROM unnest(%(held)s::text[], %(limits)s::int[]) AS l(key, lim)
),
candidates AS (
    SELECT c.id, c.run_id, c.concurrency_key, c.priority, c.run_after FROM orchestration_task AS c
    WHERE c.id = ANY(%(ids)s::bigint[]) AND c.status = 'queued'
      AND (NOT (c.concurrency_key LIKE ANY(%(patterns)s))
           OR c.concurrency_key IN (SELECT key FROM cap WHERE free > 0))
      AND (SELECT set_config('synchronous_commit', 'off', true)) = 'off'  -- see "A claim's commit"
),
eligible AS (
    SELECT ranked.id, ranked.run_id, ranked.priority, ranked.run_after FROM (
        SELECT id, run_id, concurrency_key, priority, run_after,
               row_number() OVER (PARTITION BY concurrency_key ORDER BY priority DESC, run_after, id) AS n
        FROM candidates
    ) AS ranked
    LEFT JOIN cap ON cap.key = ranked.concurrency_key
    WHERE cap.key IS NULL OR ranked.n = 1
),
blocked AS (SELECT 1 WHERE false),

-- name: insert
-- Enqueueing on Postgres in one round trip: the insert, and the NOTIFY that wakes idle
-- workers, in a single statement (autocommit: no BEGIN/COMMIT round trips either).
-- `unnest ... WITH ORDINALITY` keeps the ids in the order of the payloads; `ON CONFLICT
-- DO NOTHING` makes an idempotency key that already exists return no id instead of failing.
WITH ins AS (
    INSERT INTO orchestration_task (
        step, action, needs, status, priority, run_after, attempt, max_attempts, retry,
        timeout_seconds, claimed_by, resume, input, idempotency_key, last_error, created_at, concurrency_key
    )
    SELECT '', %(action)s, '[]'::jsonb, 'queued', %(priority)s,
           COALESCE(%(run_after)s::timestamptz, statement_timestamp()), 0, %(max_attempts)s, %(retry)s::jsonb,
           %(timeout)s, '', false, u.payload, %(key)s, '', %(now)s, %(concurrency_key)s
    FROM unnest(%(payloads)s::jsonb[]) WITH ORDINALITY AS u(payload, n)
    ORDER BY u.n
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT array_agg(id ORDER BY id){notify} FROM ins

-- name: insert_one
-- One task (the plain `enqueue`): the same insert with scalar parameters, cheaper to send than
-- arrays; no row (an existing idempotency key) means no id and no NOTIFY. It returns the times
-- the row was stored with (the database's clock), so the Task handed back is the row as stored.
WITH ins AS (
    INSERT INTO orchestration_task (
        step, action, needs, status, priority, run_after, attempt, max_attempts, retry,
        timeout_seconds, claimed_by, resume, input, idempotency_key, last_error, created_at, concurrency_key
    )
    VALUES ('', %(action)s, '[]'::jsonb, 'queued', %(priority)s,
            COALESCE(%(run_after)s::timestamptz, statement_timestamp()), 0, %(max_attempts)s, %(retry)s::jsonb,
            %(timeout)s, '', false, %(payload)s::jsonb, %(key)s, '', %(now)s, %(concurrency_key)s)
    ON CONFLICT DO NOTHING
    RETURNING id, run_after, created_at
)
SELECT id, run_after, created_at{notify} FROM ins

-- name: complete
-- Completing a batch of plain tasks from one claim in one statement: every row is
-- fenced by the claim's token and `status = 'running'`, so a row whose lease was
-- lost meanwhile is simply not returned (its report is stale); `closed` closes the
-- attempt rows of the rows that were (duration computed where the start is).
WITH done AS (
    UPDATE orchestration_task AS t
    SET status = 'succeeded', output = v.output::jsonb, cursor = NULL, finished_at = %(now)s,
        last_error = '', lease_token = NULL, lease_expires_at = NULL
    FROM (SELECT unnest(%(ids)s::bigint[]) AS id, unnest(%(outputs)s::text[]) AS output) AS v
    WHERE t.id = v.id AND t.lease_token = %(token)s AND t.status = 'running'
    RETURNING t.id
),
closed AS (
    UPDATE orchestration_agentrun
    SET outcome = 'succeeded', finished_at = %(now)s,
        duration_ms = EXTRACT(EPOCH FROM (%(now)s - started_at)) * 1000,
        error = '', error_type = '', detail = NULL
    WHERE task_id IN (SELECT id FROM done) AND outcome = 'running' AND lease_token = %(token)s
)
SELECT id FROM done

-- name: close_attempts
-- Closing the attempts' agent-run rows in one statement, duration computed where the start is.
UPDATE orchestration_agentrun
SET outcome = %(outcome)s, finished_at = %(now)s,
    duration_ms = EXTRACT(EPOCH FROM (%(now)s - started_at)) * 1000,
    error = %(error)s, error_type = %(error_type)s, detail = %(detail)s::jsonb
WHERE task_id = ANY(%(ids)s) AND outcome = 'running'
  AND (%(token)s::uuid IS NULL OR lease_token = %(token)s::uuid)
  AND (%(attempt)s::int IS NULL OR attempt = %(attempt)s::int)

-- name: lock_run
-- --- A workflow step's completion (Postgres) ---------------------------------------------
--
-- After the run's row lock (lock_run, a statement of its own: the statement below then
-- takes its snapshot after every completion of this run that committed before us, so two
-- branches finishing together cannot both miss, or both queue, their join). The two are sent
-- together (psycopg's pipeline: BEGIN, lock and completion in one round trip; the server still
-- runs them one after the other). One statement:
-- - `run`: the run's status (the lock is held: it cannot change); only a running run advances.
-- - `done`: the fenced completion (status 'running' and the holder's token or attempt).
-- - `closed`: that attempt's agent-run row.
-- - `steps`: the run's steps as they stand once this one succeeded (a statement's CTEs all
--   read one snapshot and cannot see each other's writes, hence the LEFT JOIN on `done`).
-- - `ready`: waiting steps whose needs have all succeeded, if the completion applied and the
--   run goes on.
-- - `handoff`, for a worker that asks (`worker`): the first ready step in claim order, if its
--   key has no limit and no due queued task ranks with it or before it (same or higher
--   priority: any such task is older), i.e. the very task a claim would take next. It is
--   claimed here with a fresh token and lease, its attempt row opened, and handed back with
--   its inputs: the worker runs it without another claim, another commit or a NOTIFY.
-- - `queued`: the other ready steps, queued. The NOTIFY for them is sent after the commit, by
--   the caller (notify_after_commit): in the transaction, Postgres would hold its one global
--   NOTIFY lock through the commit's WAL flush, and every completion of every worker that
--   queues something would wait in line for it.
-- `= ANY(ARRAY(...))` and `= (SELECT ...)` look the rows up by primary key whatever the
-- planner knows of the table (a join could scan every waiting task of every run).
-- - `finished`: the run, succeeded, when this was its last step (the caller then calls the
--   run's status hook with it, in this transaction).
-- - the last row: what the caller needs to fail the run (a dead step and nothing left to run)
--   with the columns of the handed-off task and of the finished run, if any.
-- FOR NO KEY UPDATE, not FOR UPDATE: it excludes every other locker of the run (completions,
-- cancel, replay, recovery: NO KEY UPDATE or stronger) but not the foreign-key checks of a
-- concurrent claim inserting an attempt row of this run (KEY SHARE). With FOR UPDATE the two
-- deadlock: the claim's SKIP LOCKED scan can leave a lock on a task it saw queued and that is
-- running now (Postgres locks the latest version before rechecking it), then waits at its
-- commit for this run; this completion then waits for that task.
SELECT status FROM orchestration_workflowrun WHERE id = %(run_id)s FOR NO KEY UPDATE

-- name: complete_step
WITH run AS (
    SELECT status FROM orchestration_workflowrun WHERE id = %(run_id)s::uuid
),
done AS (
    UPDATE orchestration_task
    SET status = 'succeeded', output = %(output)s::jsonb, cursor = NULL, finished_at = %(now)s,
        last_error = '', lease_token = NULL, lease_expires_at = NULL
    WHERE id = %(id)s AND status = 'running'
      AND (%(token)s::uuid IS NULL OR lease_token = %(token)s::uuid)
      AND (%(attempt)s::int IS NULL OR attempt = %(attempt)s::int)
    RETURNING id, output
),
closed AS (
    UPDATE orchestration_agentrun
    SET outcome = 'succeeded', finished_at = %(now)s,
        duration_ms = EXTRACT(EPOCH FROM (%(now)s - started_at)) * 1000,
        error = '', error_type = '', detail = NULL
    WHERE task_id IN (SELECT id FROM done) AND outcome = 'running'
      AND (%(token)s::uuid IS NULL OR lease_token = %(token)s::uuid)
      AND (%(attempt)s::int IS NULL OR attempt = %(attempt)s::int)
),
steps AS (
    SELECT t.id, t.step, t.needs, t.priority, t.concurrency_key,
           CASE WHEN d.id IS NULL THEN t.status ELSE 'succeeded' END AS status,
           CASE WHEN d.id IS NULL THEN t.output ELSE d.output END AS output
    FROM orchestration_task AS t LEFT JOIN done AS d ON d.id = t.id
    WHERE t.run_id = %(run_id)s::uuid
),
ready AS (
    SELECT s.id, s.priority, s.concurrency_key FROM steps AS s
    WHERE EXISTS (SELECT 1 FROM run WHERE status = 'running') AND EXISTS (SELECT 1 FROM done)
      AND s.status = 'waiting'
      AND NOT EXISTS (
          SELECT 1 FROM jsonb_array_elements_text(s.needs) AS n(step)
          WHERE n.step NOT IN (SELECT step FROM steps WHERE status = 'succeeded')
      )
),
handoff AS (
    SELECT r.id FROM ready AS r
    WHERE %(worker)s::text IS NOT NULL
      AND NOT (r.concurrency_key LIKE ANY(%(patterns)s::text[]))
      AND NOT EXISTS (
          SELECT 1 FROM orchestration_task AS q
          WHERE q.status = 'queued' AND q.run_after <= %(now)s AND q.priority >= r.priority
      )
    ORDER BY r.priority DESC, r.id
    LIMIT 1
),
queued AS (
    UPDATE orchestration_task AS t SET status = 'queued', run_after = %(now)s
    WHERE t.id = ANY(ARRAY(SELECT id FROM ready WHERE id NOT IN (SELECT id FROM handoff))) AND t.status = 'waiting'
    RETURNING t.id
),
handed AS (
    UPDATE orchestration_task AS t
    SET status = 'running',
        run_after = %(now)s,
        attempt = t.attempt + CASE WHEN t.resume THEN 0 ELSE 1 END,
        resume = false,
        lease_token = %(handoff_token)s,
        lease_expires_at = %(now)s + make_interval(secs => LEAST(t.timeout_seconds, %(lease)s)),
        claimed_by = %(worker)s,
        started_at = COALESCE(t.started_at, %(now)s)
    WHERE t.id = (SELECT id FROM handoff) AND t.status = 'waiting'
    RETURNING t.id, t.run_id, t.step, t.action, t.needs, t.attempt, t.max_attempts, t.input, t.cursor,
              t.timeout_seconds, t.lease_expires_at, t.idempotency_key
),
handed_attempt AS (
    INSERT INTO orchestration_agentrun (
        task_id, run_id, action, attempt, lease_token, worker, outcome, started_at, error_type, error
    )
    SELECT id, run_id, action, attempt, %(handoff_token)s, %(worker)s, 'running', %(now)s, '', '' FROM handed
),
finished AS (
    UPDATE orchestration_workflowrun AS w SET status = 'succeeded', finished_at = %(now)s, error = ''
    WHERE w.id = %(run_id)s::uuid AND w.status = 'running' AND EXISTS (SELECT 1 FROM done)
      AND NOT EXISTS (SELECT 1 FROM steps WHERE status <> 'succeeded')
    RETURNING {run_columns}
),
counts AS (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status IN ('queued', 'running')) AS active,
           coalesce(array_agg(step ORDER BY step) FILTER (WHERE status IN ('dead', 'cancelled')), '{{}}') AS dead
    FROM steps
)
SELECT (SELECT status FROM run) AS run_status, (SELECT count(*) FROM done) AS applied,
       (SELECT count(*) FROM ready) AS ready,
       counts.total, counts.succeeded, counts.active, counts.dead, (SELECT count(*) FROM queued) AS queued,
       h.id, h.run_id, h.step, h.action, h.needs, h.attempt, h.max_attempts, h.input, h.cursor,
       h.timeout_seconds, h.lease_expires_at, h.idempotency_key,
       (SELECT jsonb_object_agg(s.step, s.output) FROM steps AS s WHERE h.needs ? s.step) AS inputs,
       f.*
FROM counts LEFT JOIN handed AS h ON true LEFT JOIN finished AS f ON true

-- name: renew
-- Renewing a lease: never shorter than it is (GREATEST: an agent's heartbeat of the
-- short lease after a 202 must not cut back the step's timeout the engine granted), computed
-- from the database's clock, and fenced like a report: status, token and/or attempt.
UPDATE orchestration_task
SET lease_expires_at = GREATEST(lease_expires_at, %(now)s + make_interval(secs => %(extend)s))
WHERE id = %(id)s AND status = 'running'
  AND (%(token)s::uuid IS NULL OR lease_token = %(token)s::uuid)
  AND (%(attempt)s::int IS NULL OR attempt = %(attempt)s::int)
RETURNING lease_expires_at

-- name: expired_leases
-- Running tasks whose lease ran out by the database's clock (the partial index
-- `task_lease_expiry`), the longest expired first. No lock: each recovery is a conditional
-- update fenced by the token and the expiry, so two ticks recovering at once cannot both apply it.
SELECT id, lease_token FROM orchestration_task
WHERE status = 'running' AND lease_expires_at < %(now)s
ORDER BY lease_expires_at
LIMIT %(limit)s

-- name: work_in_hand
-- Whether any task is due now or running: what keeps a draining worker going.
SELECT EXISTS (
    SELECT 1 FROM orchestration_task
    WHERE (status = 'queued' AND run_after <= %(now)s) OR status = 'running'
)

-- name: insert_run
-- Starting a workflow run on Postgres in one round trip: the run, one task per step (those
-- without needs queued, the others waiting) and the NOTIFY. `ON CONFLICT DO NOTHING` on the
-- run: a second start with the same idempotency key inserts nothing and returns no row (the
-- caller then returns the first run); its tasks are inserted only with the run.
WITH run AS (
    INSERT INTO orchestration_workflowrun (
        id, workflow, version, definition, subject_type_id, subject_id, status, input, idempotency_key, generation, error,
        created_at, finished_at
    )
    VALUES (%(id)s, %(workflow)s, %(version)s, %(definition)s::jsonb, %(subject_type_id)s, %(subject_id)s, 'running', %(input)s::jsonb,
            %(key)s, %(generation)s, '', %(created_at)s, NULL)
    ON CONFLICT DO NOTHING
    RETURNING id
),
tasks AS (
    INSERT INTO orchestration_task (
        run_id, step, action, needs, status, priority, run_after, attempt, max_attempts, retry,
        timeout_seconds, claimed_by, resume, input, idempotency_key, last_error, created_at, concurrency_key
    )
    SELECT run.id, s.step, s.action, s.needs, CASE WHEN s.needs = '[]'::jsonb THEN 'queued' ELSE 'waiting' END,
           s.priority, %(now)s, 0, s.max_attempts, s.retry, s.timeout, '', false, %(input)s::jsonb, s.key, '',
           %(created_at)s, s.concurrency_key
    FROM run, unnest(%(steps)s::text[], %(actions)s::text[], %(needs)s::jsonb[], %(priorities)s::int[],
                     %(max_attempts)s::int[], %(retries)s::jsonb[], %(timeouts)s::float8[], %(keys)s::text[],
                     %(concurrency_keys)s::text[])
         AS s(step, action, needs, priority, max_attempts, retry, timeout, key, concurrency_key)
    RETURNING id
)
SELECT (SELECT count(*) FROM run){notify}

-- name: database_time
-- The database's time now, as a value: the clock every lease is measured by.
SELECT statement_timestamp()

-- name: next_due_at
-- When the earliest queued task falls due (the claim index's order, one row).
SELECT run_after FROM orchestration_task WHERE status = 'queued' ORDER BY run_after LIMIT 1

-- name: seconds_until_next_due
-- The same, as seconds from the database's now: a worker whose own clock is off sleeps right.
SELECT EXTRACT(EPOCH FROM (run_after - statement_timestamp()))::float8 FROM orchestration_task
WHERE status = 'queued' ORDER BY run_after LIMIT 1

-- name: notify
-- Wake LISTENing workers (transactional: sent when the transaction commits).
SELECT pg_notify(%(channel)s, '')
