# The Sluice image: the `sluice` binary and the example functions on Debian 12
# slim, run as a non-root user. The Helm chart (helm/sluice) runs this image by
# default; its paths, user and ports are the chart's (tests/helm checks that
# they agree). Build it from the repository root, tagged with the chart's
# appVersion:
#
#   docker build -t sluice:0.1.0 .
#   docker run --rm -p 50051:50051 -p 9464:9464 sluice:0.1.0
#
# Stage 1 builds on Debian 12 with the same dependency script as the README's
# scripts/run.sh and scripts/test.sh; stage 2 has only what the binary and the
# example functions load at run time.

FROM debian:12 AS build
WORKDIR /src
# The dependency script alone first, so that its layer is reused until it
# changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# Only the server and the example functions, without the tests.
RUN cmake -S . -B /out -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF \
 && cmake --build /out --target sluice echo wordcount sleep fail flaky progress whoami crash \
 && mkdir -p /staging/functions \
 && cp /out/functions/libecho.so /out/functions/libwordcount.so /out/functions/libsleep.so \
       /out/functions/libfail.so /out/functions/libflaky.so /out/functions/libprogress.so \
       /out/functions/libwhoami.so /out/functions/libcrash.so /staging/functions/ \
 && sed 's|\.\./\.\./build/functions/||' functions/examples/sluice.yaml > /staging/functions/sluice.yaml

FROM debian:12-slim
ARG SLUICE_VERSION=0.1.0
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Sluice, a serverless function runtime" \
      org.opencontainers.image.version="${SLUICE_VERSION}"
# The packages of the shared libraries that the sluice binary and the example
# functions need (`readelf -d` NEEDED entries, found with ldd and dpkg -S;
# RocksDB is linked statically, its compression libraries are not; serving
# binaries link tcmalloc), and tini, the init process that forwards signals
# and reaps processes that functions leave behind, and tzdata, the time zone
# database that schedules in a time zone read. libc6 and libgcc-s1 are in
# every Debian image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libabsl20220623 \
      libarchive13 \
      libbz2-1.0 \
      libcpp-httplib0.11 \
      libgrpc++1.51 \
      libgrpc29 \
      liblz4-1 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libprotobuf32 \
      libsnappy1v5 \
      libssl3 \
      libstdc++6 \
      libtcmalloc-minimal4 \
      libyaml-cpp0.7 \
      libzstd1 \
      zlib1g \
      tini \
      tzdata \
 && rm -rf /var/lib/apt/lists/*
# A fixed numeric user, so that Kubernetes can check runAsNonRoot; the chart's
# runAsUser, runAsGroup and fsGroup are the same numbers.
RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sluice \
      --no-create-home --shell /usr/sbin/nologin sluice \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/sluice
COPY --from=build /out/sluice /usr/local/bin/sluice
# The example functions and their manifest (artifact paths relative to it):
#   sluice serve -f /usr/share/sluice/functions/sluice.yaml
COPY --from=build /staging/functions/ /usr/share/sluice/functions/
USER 10001:10001
WORKDIR /var/lib/sluice
# gRPC API and Prometheus /metrics.
EXPOSE 50051 9464
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sluice"]
CMD ["serve", "--listen=0.0.0.0:50051", "--metrics-listen=0.0.0.0:9464", "--data-dir=/var/lib/sluice"]
