# syntax=docker/dockerfile:1
# ZFS Sync images, one target per program:
#   docker build --target witness  -t zfssync/witness .
#   docker build --target reporter -t zfssync/reporter .
#   docker build --target executor -t zfssync/executor .   (once src/Executor is in the checkout)
#   docker build --target cli      -t zfssync/cli .        (once src/Cli is in the checkout)
#   docker build --target dashboard --build-arg PROGRAM=dashboard -t zfssync/dashboard .
# The build stage runs scripts/build-release.sh, the same script CI runs. Every image runs as the non-root user
# "app" of the .NET images, writes only to its declared volume (run it with --read-only and a tmpfs on /tmp) and has a
# HEALTHCHECK through the program's own `healthcheck` subcommand (no curl in the image).
# A reporter or executor container that drives real pools needs the host's /dev/zfs and a zfs userland matching
# the host's kernel module: see docs/DEPLOY.md. The compose file runs them on the demo's fake zfs instead.

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG PROGRAM
WORKDIR /src
COPY . .
RUN bash scripts/build-release.sh /out ${PROGRAM}

# --- the witness: ASP.NET Core runtime (its health and metrics endpoint uses Kestrel) ---------------------------
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS witness
WORKDIR /app
COPY --from=build /out/witness/ /app/
ENV DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    ZFS_SYNC_Database__DataDirectory=/var/lib/zfssync \
    ZFS_SYNC_Observability__Listen=0.0.0.0:9470 \
    ZFS_SYNC_Observability__LogFormat=json
# The data directory belongs to the app user (a named volume starts with this ownership).
RUN mkdir -p /var/lib/zfssync && chown "$APP_UID" /var/lib/zfssync && chmod 700 /var/lib/zfssync
VOLUME ["/var/lib/zfssync"]
USER $APP_UID
EXPOSE 9470
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dotnet", "/app/ZfsSync.Witness.Worker.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "/app/ZfsSync.Witness.Worker.dll"]

# --- the reporter: .NET runtime only; zfs and zpool come from the host (see docs/DEPLOY.md) ----------------------
FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION} AS reporter
WORKDIR /app
COPY --from=build /out/reporter/ /app/
ENV DOTNET_NOLOGO=1 \
    ZFS_SYNC_Reporter__StateDirectory=/var/lib/zfssync-reporter
RUN mkdir -p /var/lib/zfssync-reporter && chown "$APP_UID" /var/lib/zfssync-reporter && chmod 700 /var/lib/zfssync-reporter
VOLUME ["/var/lib/zfssync-reporter"]
USER $APP_UID
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dotnet", "/app/ZfsSync.Reporter.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "/app/ZfsSync.Reporter.dll"]

# --- the executor: serves health and metrics like the witness ----------------------------------------------------
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS executor
WORKDIR /app
COPY --from=build /out/executor/ /app/
ENV DOTNET_NOLOGO=1 \
    ZFS_SYNC_Observability__Listen=0.0.0.0:9471 \
    ZFS_SYNC_Observability__LogFormat=json
USER $APP_UID
EXPOSE 9471
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dotnet", "/app/ZfsSync.Executor.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "/app/ZfsSync.Executor.dll"]

# --- the CLI: a one-shot tool (docker run --rm zfssync/cli status) -------------------------------------------------
FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION} AS cli
WORKDIR /app
COPY --from=build /out/cli/ /app/
ENV DOTNET_NOLOGO=1
USER $APP_UID
HEALTHCHECK NONE
ENTRYPOINT ["dotnet", "/app/ZfsSync.Cli.dll"]

# --- the web dashboard: ASP.NET Core; listening beyond loopback, so viewing needs a signed-in user -----------------
# (Dashboard:RequireSignInToView defaults to true when the listen address is not loopback; docs/DASHBOARD.md).
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS dashboard
WORKDIR /app
COPY --from=build /out/dashboard/ /app/
ENV DOTNET_NOLOGO=1 \
    ZFS_SYNC_Dashboard__Listen=http://0.0.0.0:8080
USER $APP_UID
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["dotnet", "/app/ZfsSync.Dashboard.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "/app/ZfsSync.Dashboard.dll"]

# --- the compose demo's one-shot broker setup: rabbitmqctl, jq, openssl and our definitions script ----------------
FROM rabbitmq:3.13-management AS broker-setup
RUN apt-get update && apt-get install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*
COPY scripts/rabbitmq-load-definitions.sh deploy/compose/broker-setup.sh /opt/zfssync/
COPY rabbitmq/definitions.json deploy/compose/demo-definitions.json /opt/zfssync/
HEALTHCHECK NONE
ENTRYPOINT ["/opt/zfssync/broker-setup.sh"]
