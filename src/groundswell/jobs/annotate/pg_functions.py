"""PostgreSQL's one-statement hot path, generated from the statements the general path runs.

``groundswell_next_task`` and ``groundswell_submit`` (and their ``_as`` variants, which first sign the
annotator in by browser session and CSRF token) do the common case of :func:`groundswell.jobs.next_task` and
:func:`groundswell.jobs.submit_answer` in one statement and answer ``'fallback'``, having changed nothing,
for everything else (:mod:`groundswell.jobs.annotate.hot_path`). Their bodies are built here from the very
SQL pieces and constants of :mod:`groundswell.jobs.annotate.routing_sql` that the general path executes —
the pick of the next tweet, the lease, the stale-lease check, the answer's insert, the vote's upsert, the
held-lease limit — with each ``:parameter`` bound to the function's variable. So a changed rule or a
renamed column changes both paths at once, and the functions' control flow (which cases they take) is the
only part written for them alone.

:func:`install_functions` puts the current bodies in place with ``CREATE OR REPLACE`` whenever the installed
ones differ (``prepare_store`` runs it after the schema migrations, on every start), so the database never
runs an older copy; a test compares the installed bodies with these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, text

from groundswell.domain import JobState
from groundswell.jobs.annotate import routing_sql as sql
from groundswell.jobs.answers import ITEM_CURRENT_LABELS
from groundswell.jobs.job_settings import DEFAULT_REDUNDANCY_RULE, PER_SUBMIT_RULES
from groundswell.store.driver import Sql

__all__ = ["FUNCTIONS", "PgFunction", "install_functions", "installed_bodies"]

_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_PG_NAMED = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class PgFunction:
    name: str
    #: The argument types, as ``to_regprocedure`` and ``DROP FUNCTION`` name the function.
    arguments: str
    #: Everything before ``AS $fn$``: the argument names, the result columns and the language.
    header: str
    #: What PostgreSQL stores as the function's source (``pg_proc.prosrc``).
    body: str

    @property
    def signature(self) -> str:
        return f"{self.name}({self.arguments})"

    def create_statement(self) -> str:
        return f"CREATE OR REPLACE FUNCTION {self.header} AS $fn${self.body}$fn$"


def _bind(statement: str | Sql, names: Mapping[str, str]) -> str:
    """The statement with each ``:name`` parameter replaced by the PL/pgSQL expression ``names`` gives it;
    a parameter without one is an error, so a new parameter in the general path cannot go unbound here."""
    if isinstance(statement, Sql):
        source, pattern = statement.postgresql, _PG_NAMED
    else:
        source, pattern = " ".join(statement.split()), _NAMED

    def expression(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            raise KeyError(f"no PL/pgSQL binding for parameter :{name} in {source[:80]!r}")
        return names[name]

    return pattern.sub(expression, source)


_RUNNING = JobState.RUNNING.value
_PAUSED = JobState.PAUSED.value
_ANSWERABLE = f"'{_RUNNING}', '{_PAUSED}'"
_PER_SUBMIT_RULES = ", ".join(f"'{rule}'" for rule in PER_SUBMIT_RULES)

_NEXT = {"job_id": "p_job_id", "worker_id": "p_worker_id", "now": "p_now"}
_PICKED_INTO = "picked.text FROM lease JOIN picked USING (item_id)"
_pick_and_lease = _bind(sql.PICK_AND_LEASE, {**_NEXT, "leased_at": "n_leased_at", "expires_at": "n_expires_at"})
if _pick_and_lease.count(_PICKED_INTO) != 1:
    raise RuntimeError("routing_sql.PICK_AND_LEASE no longer ends as groundswell_next_task expects")
_pick_and_lease = _pick_and_lease.replace(
    _PICKED_INTO, "picked.text INTO n_lease_id, n_item_id, n_external_id, n_text FROM lease JOIN picked USING (item_id)"
)

_NEXT_TASK_BODY = f"""
#variable_conflict use_column
DECLARE
    j record;
    h record;
    held integer := 0;
BEGIN
    n_status := 'fallback';
    SELECT jb.state, jb.started_at, jb.task_availability_s, jb.task_time_limit_s, jb.max_concurrent_tasks
      INTO j FROM jobs jb WHERE jb.id = p_job_id;
    IF NOT FOUND OR j.state <> '{_RUNNING}' OR j.max_concurrent_tasks IS NOT NULL
       OR (j.started_at IS NOT NULL AND p_now >= j.started_at + make_interval(secs => j.task_availability_s))
       OR (EXISTS (SELECT 1 FROM job_teams t WHERE t.job_id = p_job_id)
           AND NOT EXISTS (SELECT 1 FROM job_teams t JOIN team_members m ON m.team_id = t.team_id
                           WHERE t.job_id = p_job_id AND m.worker_id = p_worker_id))
       OR {_bind(sql.STALE_LEASE, _NEXT)} THEN
        RETURN NEXT;
        RETURN;
    END IF;
    FOR h IN {_bind(sql.HELD_LEASES, _NEXT)} ORDER BY l.leased_at, l.id LOOP
        held := held + 1;
        IF NOT (h.id = ANY (p_exclude)) THEN
            n_status := 'task';
            n_lease_id := h.id; n_item_id := h.item_id; n_external_id := h.external_id; n_text := h.text;
            n_leased_at := h.leased_at; n_expires_at := h.expires_at;
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
    IF held >= {sql.MAX_HELD_LEASES} THEN
        RETURN NEXT;
        RETURN;
    END IF;
    n_leased_at := p_now;
    n_expires_at := p_now + make_interval(secs => j.task_time_limit_s);
    {_pick_and_lease};
    IF FOUND THEN
        n_status := 'task';
    ELSE
        n_leased_at := NULL;
        n_expires_at := NULL;
    END IF;
    RETURN NEXT;
END
"""

_ANSWER = {
    "job_id": "c.job_id",
    "item_id": "c.item_id",
    "worker_id": "p_worker_id",
    "lease_id": "p_lease_id",
    "label": "p_label",
    "revision": "r_revision",
    "idempotency_key": "p_key",
    "time_spent_s": "p_time_spent",
    "accepted_at": "c.leased_at",
    "submitted_at": "p_now",
}
_VOTE = {
    "job_id": "c.job_id",
    "item_id": "c.item_id",
    "label": "names[winner]",
    "class_index": "winner - 1",
    "confidence": "CASE WHEN total = 1 THEN 0.0 ELSE best::double precision / total END",
    "judgment_count": "total",
    "updated_at": "p_now",
}

_SUBMIT_BODY = f"""
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
    IF j.state NOT IN ({_ANSWERABLE}) OR NOT (j.labels ? p_label)
       OR (j.settings -> 'dynamic_redundancy' = 'true'::jsonb
           AND coalesce(j.settings ->> 'redundancy_rule', '{DEFAULT_REDUNDANCY_RULE}') IN ({_PER_SUBMIT_RULES}))
       OR EXISTS (SELECT 1 FROM judgments x
                  WHERE x.job_id = c.job_id AND x.worker_id = p_worker_id AND x.idempotency_key = p_key) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT coalesce(max(x.revision) + 1, 0) INTO r_revision FROM judgments x
     WHERE x.job_id = c.job_id AND x.item_id = c.item_id AND x.worker_id = p_worker_id;
    {_bind(sql.INSERT_JUDGMENT, _ANSWER)} INTO r_judgment_id;
    {_bind(sql.CLOSE_LEASE, {"state": "'submitted'", "closed_at": "p_now", "lease_id": "p_lease_id"})};
    IF NOT c.is_gold THEN
        -- The majority vote of each worker's latest answer; a tie goes to the tied label at position
        -- item id mod (number tied), in label order: jobs.annotate.answer_vote.incremental_update's rule.
        SELECT array_agg(v.label) INTO votes
          FROM ({_bind(ITEM_CURRENT_LABELS, {"job_id": "c.job_id", "item_id": "c.item_id"})}) v
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
        {_bind(sql.UPSERT_VOTE, _VOTE)};
    END IF;
    -- After the vote, as the general path writes them: an item that becomes done with a label already gets
    -- its one label event from the is_done trigger (migration 0009); the vote changing the label of an item
    -- already marked done would add a second.
    done := c.judgments_accepted + 1 >= c.judgments_wanted;
    UPDATE job_items SET judgments_accepted = judgments_accepted + 1, leases_active = leases_active - 1,
                         is_done = done
     WHERE job_id = c.job_id AND item_id = c.item_id;
    r_status := 'ok';
    r_job_id := c.job_id; r_job_name := j.name; r_item_id := c.item_id; r_labels := j.labels;
    IF done AND NOT EXISTS ({_bind(sql.ANY_OPEN_ITEM, {"job_id": "c.job_id"})}) THEN
        r_status := 'ok-last';  -- the job may be complete: the caller checks and queues its consolidation
    ELSIF p_next THEN
        SELECT * INTO n_status, n_lease_id, n_item_id, n_external_id, n_text, n_leased_at, n_expires_at
          FROM groundswell_next_task(p_worker_id, c.job_id, p_now, p_exclude);
    END IF;
    RETURN NEXT;
END
"""

# The browser session by its token's hash (jobs.people), unexpired, of an active worker, with the CSRF token
# the page sent (compared through md5, so the comparison's time tells nothing about the stored token).
_SIGNED_IN = """
    SELECT s.worker_id INTO me
      FROM web_sessions s JOIN workers w ON w.id = s.worker_id
     WHERE s.token_hash = p_token_hash AND s.expires_at > p_now AND w.is_active
       AND p_csrf IS NOT NULL AND md5(s.csrf_token) = md5(p_csrf);
"""

_SUBMIT_AS_BODY = f"""
DECLARE
    me integer;
BEGIN
{_SIGNED_IN}
    IF me IS NULL THEN
        a_worker_id := NULL;
        r_status := 'fallback';
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY SELECT me, f.* FROM groundswell_submit(me, p_lease_id, p_label, p_key, p_time_spent, p_now,
                                                       p_next, p_exclude) f;
END
"""

_NEXT_TASK_AS_BODY = f"""
DECLARE
    me integer;
    jb record;
BEGIN
{_SIGNED_IN}
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
"""

_NEXT_TASK_RESULT = """n_status text, n_lease_id bigint, n_item_id integer, n_external_id text, n_text text,
               n_leased_at timestamptz, n_expires_at timestamptz"""
_SUBMIT_RESULT = f"""r_status text, r_judgment_id bigint, r_revision integer, r_job_id integer, r_job_name text,
               r_item_id integer, r_labels jsonb, {_NEXT_TASK_RESULT}"""

#: In the order they are installed (each ``_as`` function calls the one before it).
FUNCTIONS: tuple[PgFunction, ...] = (
    PgFunction(
        "groundswell_next_task",
        "integer, integer, timestamptz, bigint[]",
        "groundswell_next_task(p_worker_id integer, p_job_id integer, p_now timestamptz, p_exclude bigint[])\n"
        f"RETURNS TABLE ({_NEXT_TASK_RESULT})\nLANGUAGE plpgsql",
        _NEXT_TASK_BODY,
    ),
    PgFunction(
        "groundswell_submit",
        "integer, bigint, text, text, double precision, timestamptz, boolean, bigint[]",
        "groundswell_submit(p_worker_id integer, p_lease_id bigint, p_label text, p_key text,\n"
        "    p_time_spent double precision, p_now timestamptz, p_next boolean, p_exclude bigint[])\n"
        f"RETURNS TABLE ({_SUBMIT_RESULT})\nLANGUAGE plpgsql",
        _SUBMIT_BODY,
    ),
    PgFunction(
        "groundswell_submit_as",
        "text, text, bigint, text, text, double precision, timestamptz, boolean, bigint[]",
        "groundswell_submit_as(p_token_hash text, p_csrf text, p_lease_id bigint, p_label text, p_key text,\n"
        "    p_time_spent double precision, p_now timestamptz, p_next boolean, p_exclude bigint[])\n"
        f"RETURNS TABLE (a_worker_id integer, {_SUBMIT_RESULT})\nLANGUAGE plpgsql",
        _SUBMIT_AS_BODY,
    ),
    PgFunction(
        "groundswell_next_task_as",
        "text, text, text, timestamptz, bigint[]",
        "groundswell_next_task_as(p_token_hash text, p_csrf text, p_job_key text, p_now timestamptz,\n"
        "    p_exclude bigint[])\n"
        f"RETURNS TABLE (a_worker_id integer, r_job_name text, r_labels jsonb, {_NEXT_TASK_RESULT})\n"
        "LANGUAGE plpgsql",
        _NEXT_TASK_AS_BODY,
    ),
)


def installed_bodies(connection: Connection) -> dict[str, str | None]:
    """Each function's installed source (``None``: not installed)."""
    query = text("SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure(:signature)")
    return {f.name: connection.execute(query, {"signature": f.signature}).scalar() for f in FUNCTIONS}


def install_functions(connection: Connection) -> list[str]:
    """Install every function whose installed body differs from the current one; the names replaced.

    Runs in the caller's transaction, under an advisory lock, so servers starting together do not replace
    the same function at once. PostgreSQL only.
    """
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('groundswell_functions'))"))
    installed = installed_bodies(connection)
    replaced = []
    for function in FUNCTIONS:
        if installed[function.name] != function.body:
            connection.exec_driver_sql(function.create_statement())
            replaced.append(function.name)
    return replaced
