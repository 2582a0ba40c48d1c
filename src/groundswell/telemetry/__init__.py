"""What operators watch: request ids and structured logs (:mod:`.logs`), Prometheus metrics and the request
middleware that feeds both (:mod:`.http`).

Its own package, below ``web`` and ``serve`` and importing nothing else of Groundswell, because the web app,
the model endpoint and the runner all log and count the same way. The submodules are imported by name, so the
runner, which only logs, never loads the metrics library.
"""
