"""The annotator's path: which tweet a person gets next (:mod:`.routing`, its SQL in :mod:`.routing_sql`), what
an answer does (:mod:`.routing`'s submit, :mod:`.answer_vote`), taking a task or an answer back
(:mod:`.take_back`), and the one-statement PostgreSQL route for signed-in annotators (:mod:`.hot_path`).

Nothing in the background (consolidation, reviews, rounds) imports this package (an import-linter contract).
"""
