# syntax=docker/dockerfile:1
#
# hazardgw in a container:
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t hazardgw .
#   docker run -v $PWD/config.yaml:/etc/hazardgw/config.yaml:ro -v hazardgw-data:/data \
#     -p 8080:8080 hazardgw
#
# The config must set gateway.data_dir to /data (the volume: spool, alert outbox,
# alert state) and gateway.http.listen to 0.0.0.0:8080 to be reachable from
# outside the container; the health check asks 127.0.0.1:$HAZARDGW_HEALTH_PORT
# (8080 unless overridden at `docker run -e`).
#
# Modules: the build runs a plain `go mod download`, which works wherever the Go
# module proxy serves github.com/goburrow/modbus. Where it refuses it (some build
# machines' proxies do), run `scripts/modbus-module.sh` on the host first: it builds
# .cache/modproxy from Debian's source packages, .dockerignore lets that directory
# into the context, and the build puts it first in GOPROXY. The build itself cannot
# fetch Debian sources the way the script does. go.sum verifies every module either way.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
ARG VERSION=dev
# Static (no cgo), with the time zone database embedded (-tags timetzdata) for
# sites that name a zone, and no paths of the build machine. The module and build
# caches are cache mounts, so copying the sources first costs no re-download.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    if [ -f .cache/modproxy/github.com/goburrow/modbus/@v/v0.1.0.zip ]; then \
      export GOPROXY="file:///src/.cache/modproxy,$(go env GOPROXY)"; \
    fi && \
    go mod download && \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/hazardgw ./cmd/hazardgw

# Debian slim rather than distroless: the health check needs a shell (bash's
# /dev/tcp; no curl or wget to install). CA certificates for HTTPS to the duty desk
# and InfluxDB come from the build image.
FROM debian:bookworm-slim
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/hazardgw /usr/local/bin/hazardgw
RUN groupadd --system --gid 10001 hazardgw && \
    useradd --system --uid 10001 --gid hazardgw --home-dir /data --shell /usr/sbin/nologin hazardgw && \
    mkdir -p /data /etc/hazardgw && chown hazardgw:hazardgw /data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
ENV HAZARDGW_HEALTH_PORT=8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HAZARDGW_HEALTH_PORT} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]
# SIGTERM (docker stop) makes hazardgw drain and exit 0; give it time to.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hazardgw"]
CMD ["run", "-config", "/etc/hazardgw/config.yaml"]
