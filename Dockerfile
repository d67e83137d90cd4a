# Parley: one image for `parley worker` and `parley serve` (and the CLI).
# Debian 12 ships FFmpeg 5.1, the version go-astiav v0.16.0 is built for.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev \
      libswresample-dev libswscale-dev libavdevice-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/parley ./cmd/parley-sim

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libavcodec59 libavformat59 libavfilter8 libavutil57 libswresample4 \
      libswscale6 libavdevice59 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 parley
COPY --from=build /out/ /usr/local/bin/
USER parley
ENTRYPOINT ["parley"]
CMD ["serve"]
