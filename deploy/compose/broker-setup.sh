#!/usr/bin/env bash
# The compose demo's one-shot broker setup: loads rabbitmq/definitions.json and the demo's extra host user into the
# broker container (rabbit@rabbitmq) with each user's password from the docker secrets in /run/secrets, and deletes
# guest. The Erlang cookie comes from the environment (secrets/rabbitmq.env), shared with the broker container.
set -euo pipefail
export RABBITMQ_NODENAME=${RABBITMQ_NODENAME:-rabbit@rabbitmq}
/opt/zfssync/rabbitmq-load-definitions.sh /opt/zfssync/definitions.json /run/secrets
/opt/zfssync/rabbitmq-load-definitions.sh /opt/zfssync/demo-definitions.json /run/secrets
