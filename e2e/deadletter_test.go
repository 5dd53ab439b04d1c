package e2e

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
)

// TestDeleteInstancePurgesDeadLetters: deleting an instance also removes the
// messages for it that were dead-lettered, and only those.
func TestDeleteInstancePurgesDeadLetters(t *testing.T) {
	rt := startRuntime(t, deleteRegistry(t), duroxide.Options{Listen: "127.0.0.1:0"})
	c := rt.Client()
	ctx := ctxT(t)
	nc, err := nats.Connect(rt.ClientURL())
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	for _, id := range []string{"dl-deleted", "dl-kept"} {
		_, err := js.Publish(ctx, "duroxide.inbox."+id, []byte(`{"type":`))
		must(t, err)
	}
	dead, err := js.Stream(ctx, "DUROXIDE_DEADLETTER")
	must(t, err)
	count := func(id string) uint64 {
		info, err := dead.Info(ctx, jetstream.WithSubjectFilter("duroxide.dead."+id))
		must(t, err)
		var n uint64
		for _, c := range info.State.Subjects {
			n += c
		}
		return n
	}
	waitFor(t, "both messages to be dead-lettered", func() bool { return count("dl-deleted") == 1 && count("dl-kept") == 1 })
	must(t, c.StartOrchestration(ctx, "dl-deleted", "Parent", 3))
	waitDone(t, c, "dl-deleted", 30*time.Second)
	_, err = c.DeleteInstance(ctx, "dl-deleted", false)
	must(t, err)
	if n := count("dl-deleted"); n != 0 {
		t.Fatalf("%d dead letters of the deleted instance left", n)
	}
	if n := count("dl-kept"); n != 1 {
		t.Fatalf("%d dead letters of another instance, want 1", n)
	}
}
