package cluster_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/cmd/clawctl/internal/cluster"
	"clawdbot.cloud/cmd/clawctl/internal/e2e"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
)

// BenchmarkPublishAck measures what the cluster's durability costs: a
// publish waiting for its acknowledgement, on three nats-server processes
// with a file-storage stream at three replicas (as the platform's), with
// NATS's default sync (fsync every 2 minutes) and with sync_interval
// always (fsync before every acknowledgement), which the cluster runs.
// "sequential" is one publisher waiting for each ack (the latency a
// service's publish sees; p50 and p99 reported); "parallel" is 8 ×
// GOMAXPROCS publishers at once (the throughput, ns/op per message).
//
//	go test -run '^$' -bench PublishAck -benchtime 2000x ./internal/cluster/
func BenchmarkPublishAck(b *testing.B) {
	payload := make([]byte, 1024) // events are KB-sized
	for _, sync := range []string{"2m", cluster.SyncAlways} {
		b.Run("sync="+sync, func(b *testing.B) {
			js := benchCluster(b, sync)
			ctx := context.Background()
			b.Run("sequential", func(b *testing.B) {
				var lat []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if _, err := js.Publish(ctx, "bench.seq", payload); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(8) // 8 × GOMAXPROCS publishers (16 on 2 cores)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := js.Publish(ctx, "bench.par", payload); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// benchCluster starts a three-node cluster with sync and returns
// JetStream on it with a fresh R3 file stream on bench.>.
func benchCluster(b *testing.B, sync string) jetstream.JetStream {
	b.Helper()
	dir := e2e.TraversableDir(b)
	creds, err := busauth.Generate([]string{busauth.Operator})
	if err != nil {
		b.Fatal(err)
	}
	var ports cluster.Ports
	for i := range cluster.Nodes {
		ports.Client[i], ports.Route[i], ports.Monitor[i] = freePort(b), freePort(b), freePort(b)
	}
	n, err := cluster.StartNATS(context.Background(), cluster.NATSOptions{Dir: dir, BinDir: binDir, Creds: creds,
		Ports: ports, Sync: sync, Log: slog.New(slog.DiscardHandler), LogDir: dir})
	if n != nil {
		b.Cleanup(n.Stop)
	}
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nats.Connect(n.URLs, nats.UserInfo(busauth.Operator, creds[busauth.Operator]), nats.RootCAs(n.CA),
		nats.CustomInboxPrefix(bus.InboxPrefix(busauth.Operator)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"},
		Storage: jetstream.FileStorage, Replicas: cluster.Nodes}); err != nil {
		b.Fatal(err)
	}
	return js
}
