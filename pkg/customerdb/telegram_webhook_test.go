package customerdb

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestTelegramWebhookUpdates(t *testing.T) {
	ctx := t.Context()
	db := migrated(t)
	if _, _, err := InitTelegramWebhook(ctx, db, 77, "p1", []byte{1}); !errors.Is(err, ErrNoTelegramChannel) {
		t.Fatalf("init without a channel: %v", err)
	}
	if err := PutTelegramChannel(ctx, db, TelegramChannel{TokenSealed: []byte{9}, BotID: 77, BotUsername: "ann_bot"}); err != nil {
		t.Fatal(err)
	}

	// The first path and secret stay; a second start gets them back.
	for _, try := range []struct {
		path   string
		secret []byte
	}{{"p1", []byte{1}}, {"p2", []byte{2}}} {
		path, secret, err := InitTelegramWebhook(ctx, db, 77, try.path, try.secret)
		if err != nil || path != "p1" || !bytes.Equal(secret, []byte{1}) {
			t.Fatalf("init %s = %q %v %v", try.path, path, secret, err)
		}
	}
	if err := SetTelegramWebhookURL(ctx, db, 77, "https://x.example/telegram/webhook/p1"); err != nil {
		t.Fatal(err)
	}
	ch, err := GetTelegramChannel(ctx, db)
	if err != nil || ch.WebhookPath != "p1" || ch.WebhookURL == "" || !bytes.Equal(ch.WebhookSecretSealed, []byte{1}) {
		t.Fatalf("channel = %+v %v", ch, err)
	}

	// A delivery is recorded once; a redelivery changes nothing.
	body := []byte(`{"update_id": 500, "message": {"text": "hi \u0000"}}`)
	for i, want := range []bool{true, false} {
		fresh, err := ReceiveTelegramUpdate(ctx, db, 77, 500, 6, body)
		if err != nil || fresh != want {
			t.Fatalf("receive #%d = %v %v, want %v", i, fresh, err, want)
		}
	}
	if _, err := ReceiveTelegramUpdate(ctx, db, 78, 501, 6, body); !errors.Is(err, ErrNoTelegramChannel) {
		t.Fatalf("another bot's update: %v", err)
	}
	if _, err := ReceiveTelegramUpdate(ctx, db, 77, 501, 6, []byte(`{"update_id": 501}`)); err != nil {
		t.Fatal(err)
	}
	if ch, _ := GetTelegramChannel(ctx, db); ch.Offset != 502 {
		t.Fatalf("offset = %d, want 502", ch.Offset)
	}

	// Begun oldest first, each once; pruning keeps what is not finished.
	first, ok, err := BeginNextTelegramUpdate(ctx, db, 77)
	if err != nil || !ok || first.UpdateID != 500 || !bytes.Equal(first.Payload, body) {
		t.Fatalf("begin = %+v %v %v", first, ok, err)
	}
	if err := PruneTelegramUpdates(ctx, db, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if next, ok, err := BeginNextTelegramUpdate(ctx, db, 77); err != nil || !ok || next.UpdateID != 501 {
		t.Fatalf("begin next = %+v %v %v", next, ok, err)
	}
	if _, ok, err := BeginNextTelegramUpdate(ctx, db, 77); ok || err != nil {
		t.Fatalf("begin with none received = %v %v", ok, err)
	}
	if ups, err := InterruptTelegramUpdates(ctx, db, 77); err != nil || len(ups) != 2 {
		t.Fatalf("interrupt = %+v %v", ups, err)
	}
	if err := FinishTelegramUpdate(ctx, db, 77, 501, TelegramUpdateDone); err != nil {
		t.Fatal(err)
	}
	var payload []byte
	if err := db.QueryRow(ctx, `SELECT payload FROM telegram_updates WHERE update_id = 501`).Scan(&payload); err != nil || payload != nil {
		t.Fatalf("a finished update keeps its body: %v %v", payload, err)
	}
}
