# syntax=docker/dockerfile:1
#
# vigil in a container:
#   docker build --build-arg VERSION=$(git describe --tags --always) -t vigil .
#   docker run -d --name vigil --restart on-failure \
#     -v vigil-data:/var/lib/vigil -v /etc/vigil/vigil.yaml:/etc/vigil/vigil.yaml:ro \
#     -p 127.0.0.1:9465:9465 vigil --config /etc/vigil/vigil.yaml validator run
#
# Exit code 3 means vigil stopped to protect the keys (another signer uses them): do not restart it before finding
# the other signer. `--restart on-failure` restarts it anyway, so watch the VigilDoppelgangerDetected alert, or
# use `--restart no` under a supervisor that honours exit code 3 (the systemd unit in configs/systemd does).

# Build: cgo is required (herumi's BLS library, SQLite), so the official Go image on the same Debian release as the
# runtime image, whose glibc the binary links against.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=1
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vigil ./cmd/vigil

# Run: slim glibc image, curl for the health check, CA certificates for a Vault or beacon node behind TLS.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged uid/gid, so that volume ownership survives image rebuilds.
RUN groupadd --system --gid 10001 vigil \
    && useradd --system --uid 10001 --gid vigil --home-dir /var/lib/vigil --no-create-home --shell /usr/sbin/nologin vigil \
    && install -d -m 0700 -o vigil -g vigil /var/lib/vigil
COPY --from=build /out/vigil /usr/local/bin/vigil

# vigil's state (slashing database, keys directory): keep it on a volume. Losing the slashing database of keys
# that keep validating elsewhere is how validators get slashed. A bind mount instead must be owned by 10001:10001
# and mode 0700 (vigil refuses a data directory others can read).
ENV VIGIL_DATA_DIR=/var/lib/vigil
# Inside the container's own network namespace loopback is unreachable from outside, so the monitor listener binds
# every interface of the container; publish it to the host's loopback only (-p 127.0.0.1:9465:9465). This variable
# wins over metrics-address in a config file: override it with -e VIGIL_METRICS_ADDRESS=...
ENV VIGIL_METRICS_ADDRESS=0.0.0.0:9465
VOLUME ["/var/lib/vigil"]
EXPOSE 9465

USER 10001:10001
WORKDIR /var/lib/vigil

# Healthy = /readyz answers 200: keys loaded, a synced beacon node, the slashing database reachable and the
# doppelganger window over, which takes 2-3 epochs (13-20 minutes) after a start, hence the start period. A
# different metrics port must be changed here too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20m --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9465/readyz"]

# SIGTERM lets the current slot's duties finish; give it `docker stop -t 60`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["validator", "run"]
