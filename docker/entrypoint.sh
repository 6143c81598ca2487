#!/bin/sh
# The images' entry point: `taskonomy ARGS...` (the chart and docker-compose pass ARGS); with no
# ARGS, the command the image was built for (TASKONOMY_DEFAULT_ARGS, set from its build arguments).
# exec: taskonomy is PID 1 and gets SIGTERM itself (graceful stops).
if [ "$#" -eq 0 ]; then
  # shellcheck disable=SC2086  # the default is a plain word list: split it
  set -- ${TASKONOMY_DEFAULT_ARGS:?TASKONOMY_DEFAULT_ARGS is not set: give the command as arguments}
fi
exec taskonomy "$@"
