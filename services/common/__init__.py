"""The Celery side of the services, one module each:

- :mod:`~services.common.tasknames` — task names and queues (the contract with every sender);
- :mod:`~services.common.settings` — the workers' ``TASKONOMY_*`` settings;
- :mod:`~services.common.state` — experiment records and their events in Redis;
- :mod:`~services.common.redisconn` — the workers' Redis client;
- :mod:`~services.common.runbook` — one run's jobs, dependencies and completions in Redis;
- :mod:`~services.common.leases` — a running job's lease;
- :mod:`~services.common.workerstore` — the write-once artifact store of the workers;
- :mod:`~services.common.workercontext` — per-process handles of a worker;
- :mod:`~services.common.jobkinds` — plugin job kinds (the tests' synthetic jobs);
- :mod:`~services.common.jobrunner` — running one job and the bookkeeping around it;
- :mod:`~services.common.lostjobs` — the sweep that restores what a killed worker took along;
- :mod:`~services.common.heartbeats` — workers' heartbeats: live and lost workers per queue;
- :mod:`~services.common.tasks` — the Celery tasks; :mod:`~services.common.celery_app` — the app;
- :mod:`~services.common.submission` — submit, re-run, cancel, status (CLI, gateway, tests);
- :mod:`~services.common.metrics`, :mod:`~services.common.jobmetrics` — the Prometheus catalogue
  and the job metrics that travel through Redis.
"""
