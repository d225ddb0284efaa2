# Flowgate: one static binary; the same image runs `worker`, `mcp` and `demo-backends`.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/flowgate ./cmd/flowgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flowgate /usr/local/bin/flowgate
USER nonroot:nonroot
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/flowgate"]
