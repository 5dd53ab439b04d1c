package jetstream

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An inbox stream made by a version without the runtime subjects is refused with a
// clear error instead of losing every runtime publish.
func TestOpenRefusesInboxWithoutRuntimeSubjects(t *testing.T) {
	srv, err := StartServer(ServerOptions{DataDir: t.TempDir(), Listen: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DUROXIDE_INBOX", Subjects: []string{"duroxide.inbox.*", "duroxide.timer.>"},
		Retention: jetstream.WorkQueuePolicy, AllowMsgSchedules: true,
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "duroxide.inbox.*", Destination: "duroxide.in.{{partition(16,1)}}.{{wildcard(1)}}"}}); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, nc, Config{})
	if !errors.Is(err, ErrStreamOutdated) || !strings.Contains(err.Error(), "duroxide.rt.*") {
		t.Fatalf("Open on an old inbox stream: %v, want ErrStreamOutdated naming duroxide.rt.*", err)
	}
}
