package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"clawdbot.cloud/services/neon/internal/adapters/postgres"
)

// BenchmarkCreate measures a customer database create as the database step
// of a signup runs it: cloning the template, or claiming a warm pool entry
// (the pool filled ahead with one entry per iteration, then left alone).
//
//	go test -run '^$' -bench BenchmarkCreate -benchtime 20x ./internal/adapters/postgres/
func BenchmarkCreate(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		name := "template"
		if pooled {
			name = "pool"
		}
		b.Run(name, func(b *testing.B) {
			var f *fixture
			if pooled {
				pf := newPoolFixture(b, b.N)
				pf.waitReady(b, b.N)
				pf.stop()
				f = pf.fixture
			} else {
				f = openFixture(b, postgres.Config{})
			}
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("cus_BENCH%s%d%d", name, time.Now().UnixNano(), i)
			}
			b.Cleanup(func() {
				for _, id := range ids {
					_ = f.driver.Delete(context.Background(), id)
				}
			})
			b.ResetTimer()
			for i := range b.N { // b.N, not b.Loop: the pool is filled for exactly b.N
				if _, err := f.driver.Create(context.Background(), ids[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
