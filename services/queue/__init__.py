"""The work queue: Celery on Redis, shared by the workers (trainer, transfer) and by every sender
(gateway, ``taskonomy submit``), one module each:

- :mod:`~services.queue.tasknames` — task names and queues (the contract with every sender);
- :mod:`~services.queue.settings` — the workers' ``TASKONOMY_*`` settings and the default broker URL;
- :mod:`~services.queue.redis_keys` — every Redis key of the services (one schema, one prefix);
- :mod:`~services.queue.redisconn` — the one factory of Redis clients;
- :mod:`~services.queue.state` — experiment states, records and their events in Redis;
- :mod:`~services.queue.runbook` — one run's jobs, dependencies and completions in Redis;
- :mod:`~services.queue.leases` — a running job's lease;
- :mod:`~services.queue.queues` — the Redis lists that make up a queue's load (what KEDA reads);
- :mod:`~services.queue.workerstore` — the write-once artifact store of the workers;
- :mod:`~services.queue.workercontext` — per-process handles of a worker;
- :mod:`~services.queue.jobkinds` — the extension point for job kinds beyond taskonomy.contract.JobKind;
- :mod:`~services.queue.jobrunner` — running one job and the bookkeeping around it;
- :mod:`~services.queue.lostjobs` — the sweep that restores what a killed worker took along;
- :mod:`~services.queue.heartbeats` — workers' heartbeats: live and lost workers per queue;
- :mod:`~services.queue.tasks` — the Celery tasks; :mod:`~services.queue.celery_app` — the app;
- :mod:`~services.queue.submission` — submit, re-run, cancel, status (CLI, gateway, tests);
- :mod:`~services.queue.job_metrics` — the job metrics that travel through Redis (the catalogue of
  every Prometheus metric is :mod:`services.metric_catalog`).
"""
