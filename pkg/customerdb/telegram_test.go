package customerdb

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func TestTelegramChannel(t *testing.T) {
	ctx := t.Context()
	db := migrated(t)
	if _, err := GetTelegramChannel(ctx, db); !errors.Is(err, ErrNoTelegramChannel) {
		t.Fatalf("empty: %v", err)
	}
	code := sha256.Sum256([]byte("pairing-code"))
	ch := TelegramChannel{TokenSealed: []byte{1, 2, 3}, BotID: 77, BotUsername: "ann_bot", PairingCodeHash: code[:]}
	if err := PutTelegramChannel(ctx, db, ch); err != nil {
		t.Fatal(err)
	}

	// Pairing: a wrong code does nothing, the right one works once.
	wrong := sha256.Sum256([]byte("guess"))
	if ok, err := PairTelegramOwner(ctx, db, 77, wrong[:], 5, 5); ok || err != nil {
		t.Fatalf("wrong code paired: %v %v", ok, err)
	}
	if ok, err := PairTelegramOwner(ctx, db, 77, code[:], 5, 6); !ok || err != nil {
		t.Fatalf("pair: %v %v", ok, err)
	}
	if ok, _ := PairTelegramOwner(ctx, db, 77, code[:], 9, 9); ok {
		t.Fatal("the pairing code worked twice")
	}

	// An update is taken once; the offset moves with it.
	for i, want := range []bool{true, false} {
		taken, err := TakeTelegramUpdate(ctx, db, 77, 1000, 6)
		if err != nil || taken != want {
			t.Fatalf("take #%d = %v %v, want %v", i, taken, err, want)
		}
	}
	if taken, _ := TakeTelegramUpdate(ctx, db, 78, 1001, 6); taken {
		t.Fatal("an update of another bot was taken")
	}
	got, err := GetTelegramChannel(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Paired() || got.OwnerChatID != 6 || got.Offset != 1001 || got.PairingCodeHash != nil || !bytes.Equal(got.TokenSealed, []byte{1, 2, 3}) {
		t.Fatalf("channel = %+v", got)
	}

	// A started update is interrupted once, never rerun.
	if _, err := TakeTelegramUpdate(ctx, db, 77, 1001, 6); err != nil {
		t.Fatal(err)
	}
	if err := FinishTelegramUpdate(ctx, db, 77, 1000, TelegramUpdateDone); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		ups, err := InterruptTelegramUpdates(ctx, db, 77)
		if err != nil || len(ups) != want {
			t.Fatalf("interrupt #%d = %v %v", i, ups, err)
		}
	}

	// Strangers are refused once.
	for i, want := range []bool{true, false} {
		if first, err := RefuseTelegramStranger(ctx, db, 77, 13); first != want || err != nil {
			t.Fatalf("refusal #%d = %v %v", i, first, err)
		}
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := BreakTelegramChannel(ctx, db, 77, "token revoked", now); err != nil {
		t.Fatal(err)
	}
	// Reconnecting the same bot keeps the offset, resets pairing and breakage.
	if err := PutTelegramChannel(ctx, db, ch); err != nil {
		t.Fatal(err)
	}
	got, _ = GetTelegramChannel(ctx, db)
	if got.Offset != 1002 || got.Paired() || got.BrokenReason != "" {
		t.Fatalf("after reconnect: %+v", got)
	}
	if ok, err := DeleteTelegramChannel(ctx, db); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, _ := DeleteTelegramChannel(ctx, db); ok {
		t.Fatal("deleted twice")
	}
}
