# ctpanel in a container image. liblxc containers need a privileged host
# context (cgroups, namespaces, mounts), so run it with --privileged, the
# host's cgroup tree and a persistent lxcpath; see docker-compose.yml.

# The web pages' front-end libraries from npm (scripts/build-web.sh), which
# the Go build embeds.
FROM node:20-bookworm-slim AS web
RUN apt-get update \
 && apt-get install -y --no-install-recommends rsync \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY web/package.json web/package-lock.json web/
COPY scripts/build-web.sh scripts/
RUN mkdir -p web/static && scripts/build-web.sh

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends lxc-dev pkg-config gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/static/vendor web/static/vendor
RUN go build -o /out/ctpanel ./cmd/ctpanel

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends lxc liblxc1 busybox-static rsync \
      postgresql ca-certificates procps nftables iproute2 restic openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ctpanel /usr/local/bin/ctpanel
ENV CTPANEL_LISTEN=0.0.0.0:8080 \
    CTPANEL_DATA_DIR=/var/lib/ctpanel \
    CTPANEL_LXC_PATH=/var/lib/lxc
VOLUME ["/var/lib/ctpanel", "/var/lib/lxc"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ctpanel"]
CMD ["serve"]
