"""PostgreSQL: the annotator's answer and next task as server-side functions, one statement per request

An answer plus the next task took about eight statements in six round trips, and on a small machine under
load the per-statement overhead on both sides, not the work, bounded the throughput. These functions run
the common case in one statement: ``groundswell_submit`` stores an answer (judgment, lease closed, counters,
majority vote) and, when asked, leases the worker's next task through ``groundswell_next_task``. Their
``_as`` variants first sign the annotator in by their browser session and CSRF token, so that a request from
the annotator UI is one statement in autocommit mode, without BEGIN and COMMIT round trips
(``groundswell.jobs.annotate.hot_path``).

They handle only the common case and answer ``'fallback'`` for everything else (a replayed or foreign
lease, a declined or expired one, an unknown label, a paused or finished job, dynamic redundancy's vote rule,
stale leases to sweep, team restrictions, ``max_concurrent_tasks``, no item left), having changed nothing
for that part; ``groundswell.jobs.annotate.routing`` then runs its general Python path, which gives every error its
message. So the rules live in Python, and these functions are a faster route to the same results for the
cases they take: the tests run every routing path on PostgreSQL, where these functions are in use.

SQLite has no such functions; there the Python path runs in-process, where statements are cheap.

These are the first copies. The current bodies are generated from the general path's statements
(``groundswell.jobs.annotate.pg_functions``) and replace these on every start when they differ
(``groundswell.jobs.setup.prepare_store``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 14:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The pick is routing_sql._PICK (started items first, within the first 200 by priority, then the best fresh
# item; rows another transaction holds are skipped), with the function's variables for its parameters.
_NEXT_TASK = """
CREATE FUNCTION groundswell_next_task(p_worker_id integer, p_job_id integer, p_now timestamptz,
                                      p_exclude bigint[])
RETURNS TABLE (n_status text, n_lease_id bigint, n_item_id integer, n_external_id text, n_text text,
               n_leased_at timestamptz, n_expires_at timestamptz)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    j record;
    h record;
    held integer := 0;
BEGIN
    n_status := 'fallback';
    SELECT jb.state, jb.started_at, jb.task_availability_s, jb.task_time_limit_s, jb.max_concurrent_tasks
      INTO j FROM jobs jb WHERE jb.id = p_job_id;
    IF NOT FOUND OR j.state <> 'running' OR j.max_concurrent_tasks IS NOT NULL
       OR (j.started_at IS NOT NULL AND p_now >= j.started_at + make_interval(secs => j.task_availability_s))
       OR (EXISTS (SELECT 1 FROM job_teams t WHERE t.job_id = p_job_id)
           AND NOT EXISTS (SELECT 1 FROM job_teams t JOIN team_members m ON m.team_id = t.team_id
                           WHERE t.job_id = p_job_id AND m.worker_id = p_worker_id))
       OR EXISTS (SELECT 1 FROM task_leases
                  WHERE job_id = p_job_id AND state = 'active' AND expires_at < p_now) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    FOR h IN SELECT l.id, l.item_id, l.leased_at, l.expires_at, i.external_id, i.text
             FROM task_leases l JOIN items i ON i.id = l.item_id
             WHERE l.job_id = p_job_id AND l.worker_id = p_worker_id AND l.state = 'active'
             ORDER BY l.leased_at, l.id LOOP
        held := held + 1;
        IF NOT (h.id = ANY (p_exclude)) THEN
            n_status := 'task';
            n_lease_id := h.id; n_item_id := h.item_id; n_external_id := h.external_id; n_text := h.text;
            n_leased_at := h.leased_at; n_expires_at := h.expires_at;
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
    IF held >= 3 THEN
        RETURN NEXT;
        RETURN;
    END IF;
    n_leased_at := p_now;
    n_expires_at := p_now + make_interval(secs => j.task_time_limit_s);
    WITH picked AS (
        SELECT * FROM (
            SELECT * FROM (
                SELECT ji.item_id, i.external_id, i.text
                FROM (SELECT item_id FROM job_items
                      WHERE job_id = p_job_id AND is_done = false AND started = true
                        AND judgments_accepted + leases_active < judgments_wanted
                      ORDER BY priority DESC, item_id LIMIT 200) w
                JOIN job_items ji ON ji.job_id = p_job_id AND ji.item_id = w.item_id
                JOIN items i ON i.id = ji.item_id
                WHERE ji.is_done = false AND ji.judgments_accepted + ji.leases_active < ji.judgments_wanted
                  AND NOT EXISTS (SELECT 1 FROM task_leases l
                                  WHERE l.job_id = ji.job_id AND l.worker_id = p_worker_id AND l.item_id = ji.item_id
                                    AND l.state IN ('active', 'submitted', 'declined'))
                LIMIT 1 FOR UPDATE OF ji SKIP LOCKED
            ) started_item
            UNION ALL
            SELECT * FROM (
                SELECT ji.item_id, i.external_id, i.text
                FROM job_items ji JOIN items i ON i.id = ji.item_id
                WHERE ji.job_id = p_job_id AND ji.started = false AND ji.is_done = false
                  AND ji.judgments_accepted + ji.leases_active < ji.judgments_wanted
                  AND NOT EXISTS (SELECT 1 FROM task_leases l
                                  WHERE l.job_id = ji.job_id AND l.worker_id = p_worker_id AND l.item_id = ji.item_id
                                    AND l.state IN ('active', 'submitted', 'declined'))
                ORDER BY ji.priority DESC, ji.item_id
                LIMIT 1 FOR UPDATE OF ji SKIP LOCKED
            ) fresh_item
        ) picks LIMIT 1
    ),
    lease AS (
        INSERT INTO task_leases (job_id, item_id, worker_id, state, leased_at, expires_at)
        SELECT p_job_id, item_id, p_worker_id, 'active', n_leased_at, n_expires_at FROM picked
        RETURNING id, item_id
    ),
    claim AS (
        UPDATE job_items SET leases_active = leases_active + 1, started = true
        WHERE job_id = p_job_id AND item_id = (SELECT item_id FROM picked)
    )
    SELECT lease.id, picked.item_id, picked.external_id, picked.text
      INTO n_lease_id, n_item_id, n_external_id, n_text
      FROM lease JOIN picked USING (item_id);
    IF FOUND THEN
        n_status := 'task';
    ELSE
        n_leased_at := NULL;
        n_expires_at := NULL;
    END IF;
    RETURN NEXT;
END
$fn$
"""

_SUBMIT = """
CREATE FUNCTION groundswell_submit(p_worker_id integer, p_lease_id bigint, p_label text, p_key text,
                                   p_time_spent double precision, p_now timestamptz, p_next boolean,
                                   p_exclude bigint[])
RETURNS TABLE (r_status text, r_judgment_id bigint, r_revision integer, r_job_id integer, r_job_name text,
               r_item_id integer, r_labels jsonb, n_status text, n_lease_id bigint, n_item_id integer,
               n_external_id text, n_text text, n_leased_at timestamptz, n_expires_at timestamptz)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    c record;
    j record;
    done boolean;
    votes text[];
    names text[];
    counts integer[];
    best integer := 0;
    ties integer;
    winner integer;
    total integer;
BEGIN
    r_status := 'fallback';
    SELECT ji.job_id, ji.item_id, ji.judgments_wanted, ji.judgments_accepted, ji.is_gold, l.worker_id, l.state,
           l.leased_at
      INTO c
      FROM task_leases l JOIN job_items ji ON ji.job_id = l.job_id AND ji.item_id = l.item_id
     WHERE l.id = p_lease_id
       FOR UPDATE OF ji;
    IF NOT FOUND OR c.worker_id <> p_worker_id OR c.state <> 'active' THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT jb.id, jb.name, jb.state, jb.settings, s.labels INTO j
      FROM jobs jb JOIN label_schemas s ON s.id = jb.label_schema_id WHERE jb.id = c.job_id;
    IF j.state NOT IN ('running', 'paused') OR NOT (j.labels ? p_label)
       OR (j.settings -> 'dynamic_redundancy' = 'true'::jsonb
           AND coalesce(j.settings ->> 'redundancy_rule', 'vote') <> 'posterior')
       OR EXISTS (SELECT 1 FROM judgments x
                  WHERE x.job_id = c.job_id AND x.worker_id = p_worker_id AND x.idempotency_key = p_key) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT coalesce(max(x.revision) + 1, 0) INTO r_revision FROM judgments x
     WHERE x.job_id = c.job_id AND x.item_id = c.item_id AND x.worker_id = p_worker_id;
    INSERT INTO judgments (job_id, item_id, worker_id, lease_id, label, revision, idempotency_key, time_spent_s,
                           accepted_at, submitted_at, iteration)
    VALUES (c.job_id, c.item_id, p_worker_id, p_lease_id, p_label, r_revision, p_key, p_time_spent,
            c.leased_at, p_now, 0)
    RETURNING id INTO r_judgment_id;
    UPDATE task_leases SET state = 'submitted', closed_at = p_now WHERE id = p_lease_id;
    done := c.judgments_accepted + 1 >= c.judgments_wanted;
    UPDATE job_items SET judgments_accepted = judgments_accepted + 1, leases_active = leases_active - 1,
                         is_done = done
     WHERE job_id = c.job_id AND item_id = c.item_id;
    IF NOT c.is_gold THEN
        -- The majority vote of each worker's latest answer; a tie goes to the tied label at position
        -- item id mod (number tied), in label order: jobs.annotate.answer_vote.incremental_update's rule.
        SELECT array_agg(v.label) INTO votes
          FROM (SELECT DISTINCT ON (x.worker_id) x.label FROM judgments x
                 WHERE x.job_id = c.job_id AND x.item_id = c.item_id
                 ORDER BY x.worker_id, x.revision DESC) v
         WHERE v.label IS NOT NULL;
        names := ARRAY(SELECT jsonb_array_elements_text(j.labels));
        counts := array_fill(0, ARRAY[cardinality(names)]);
        FOR i IN 1 .. cardinality(names) LOOP
            counts[i] := cardinality(array_positions(votes, names[i]));
            best := greatest(best, counts[i]);
        END LOOP;
        ties := cardinality(array_positions(counts, best));
        winner := (array_positions(counts, best))[1 + mod(c.item_id, ties)];
        total := cardinality(votes);
        INSERT INTO consolidated_labels (job_id, item_id, label, class_index, confidence, method, human_annotated,
                                         judgment_count, model_version_id, updated_at)
        VALUES (c.job_id, c.item_id, names[winner], winner - 1,
                CASE WHEN total = 1 THEN 0.0 ELSE best::double precision / total END, 'mv', true, total, NULL, p_now)
        ON CONFLICT (job_id, item_id) DO UPDATE SET
            label = excluded.label, class_index = excluded.class_index, confidence = excluded.confidence,
            method = excluded.method, human_annotated = excluded.human_annotated,
            judgment_count = excluded.judgment_count, model_version_id = excluded.model_version_id,
            updated_at = excluded.updated_at;
    END IF;
    r_status := 'ok';
    r_job_id := c.job_id; r_job_name := j.name; r_item_id := c.item_id; r_labels := j.labels;
    IF done AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = c.job_id AND is_done = false) THEN
        r_status := 'ok-last';  -- the job may be complete: the caller checks and queues its consolidation
    ELSIF p_next THEN
        SELECT * INTO n_status, n_lease_id, n_item_id, n_external_id, n_text, n_leased_at, n_expires_at
          FROM groundswell_next_task(p_worker_id, c.job_id, p_now, p_exclude);
    END IF;
    RETURN NEXT;
END
$fn$
"""


# The signed-in annotator's requests as one statement each, sign-in included: the browser session by its
# token's hash (jobs.access), unexpired, of an active worker, with the CSRF token the page sent (compared
# through md5, so the comparison's time tells nothing about the stored token). Anything else: 'fallback'.
_SIGNED_IN = """
    SELECT s.worker_id INTO me
      FROM web_sessions s JOIN workers w ON w.id = s.worker_id
     WHERE s.token_hash = p_token_hash AND s.expires_at > p_now AND w.is_active
       AND p_csrf IS NOT NULL AND md5(s.csrf_token) = md5(p_csrf);
"""

_SUBMIT_AS = (
    """
CREATE FUNCTION groundswell_submit_as(p_token_hash text, p_csrf text, p_lease_id bigint, p_label text,
                                      p_key text, p_time_spent double precision, p_now timestamptz,
                                      p_next boolean, p_exclude bigint[])
RETURNS TABLE (a_worker_id integer, r_status text, r_judgment_id bigint, r_revision integer, r_job_id integer,
               r_job_name text, r_item_id integer, r_labels jsonb, n_status text, n_lease_id bigint,
               n_item_id integer, n_external_id text, n_text text, n_leased_at timestamptz,
               n_expires_at timestamptz)
LANGUAGE plpgsql AS $fn$
DECLARE
    me integer;
BEGIN
"""
    + _SIGNED_IN
    + """
    IF me IS NULL THEN
        a_worker_id := NULL;
        r_status := 'fallback';
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY SELECT me, f.* FROM groundswell_submit(me, p_lease_id, p_label, p_key, p_time_spent, p_now,
                                                       p_next, p_exclude) f;
END
$fn$
"""
)

_NEXT_TASK_AS = (
    """
CREATE FUNCTION groundswell_next_task_as(p_token_hash text, p_csrf text, p_job_key text, p_now timestamptz,
                                         p_exclude bigint[])
RETURNS TABLE (a_worker_id integer, r_job_name text, r_labels jsonb, n_status text, n_lease_id bigint,
               n_item_id integer, n_external_id text, n_text text, n_leased_at timestamptz,
               n_expires_at timestamptz)
LANGUAGE plpgsql AS $fn$
DECLARE
    me integer;
    jb record;
BEGIN
"""
    + _SIGNED_IN
    + """
    SELECT j.id, j.name, s.labels INTO jb
      FROM jobs j JOIN label_schemas s ON s.id = j.label_schema_id WHERE j.name_key = p_job_key;
    IF me IS NULL OR jb.id IS NULL THEN
        n_status := 'fallback';
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY SELECT me, jb.name::text, jb.labels, f.*
                   FROM groundswell_next_task(me, jb.id, p_now, p_exclude) f;
END
$fn$
"""
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_NEXT_TASK)
    op.execute(_SUBMIT)
    op.execute(_SUBMIT_AS)
    op.execute(_NEXT_TASK_AS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION groundswell_next_task_as(text, text, text, timestamptz, bigint[])")
    op.execute(
        "DROP FUNCTION groundswell_submit_as"
        "(text, text, bigint, text, text, double precision, timestamptz, boolean, bigint[])"
    )
    op.execute(
        "DROP FUNCTION groundswell_submit"
        "(integer, bigint, text, text, double precision, timestamptz, boolean, bigint[])"
    )
    op.execute("DROP FUNCTION groundswell_next_task(integer, integer, timestamptz, bigint[])")
