package duroxide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// ServiceVersion is the version the management service advertises.
const ServiceVersion = "0.1.0"

// ServiceRequest is the JSON body of a management service request. Each endpoint
// reads the fields it needs.
type ServiceRequest struct {
	Instance  string `json:"instance,omitempty"`
	Execution uint64 `json:"execution,omitempty"`
	// Listing filters (endpoint "list").
	Status        string    `json:"status,omitempty"`
	Name          string    `json:"name,omitempty"`
	CreatedAfter  time.Time `json:"created_after,omitzero"`
	CreatedBefore time.Time `json:"created_before,omitzero"`
	Limit         int       `json:"limit,omitempty"`
	Cursor        string    `json:"cursor,omitempty"`
	// Key is the KV key (endpoint "value").
	Key string `json:"key,omitempty"`
}

// StartService registers the request/reply management service on c's connection,
// built on nats.go's micro package: any NATS client can read instance status and
// history without linking duroxide-go. It is discoverable with
// `nats micro ls` / `$SRV.INFO.duroxide`; its endpoints are
// <namespace>.api.<operation> (see docs/PROTOCOL.md). Several nodes may each start
// it: requests are load-balanced over them. Stop it with the returned service's Stop.
// A client of a runtime on another store than JetStream ([Options.Store]) has no
// NATS connection: StartService returns an error wrapping [ErrNotSupported].
func StartService(c *Client) (micro.Service, error) {
	if c.js == nil {
		return nil, fmt.Errorf("duroxide: start management service: %w (it needs the JetStream store)", ErrNotSupported)
	}
	ns := c.js.Namespace()
	svc, err := micro.AddService(c.js.Conn(), micro.Config{
		Name:        "duroxide",
		Version:     ServiceVersion,
		Description: "duroxide-go management reads for namespace " + ns,
		Metadata:    map[string]string{"namespace": ns},
	})
	if err != nil {
		return nil, fmt.Errorf("duroxide: start management service: %w", err)
	}
	g := svc.AddGroup(ns + ".api")
	endpoints := map[string]func(context.Context, ServiceRequest) (any, error){
		"status": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.GetStatus(ctx, r.Instance)
		},
		"history": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.ReadHistory(ctx, r.Instance, r.Execution)
		},
		"executions": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.ListExecutions(ctx, r.Instance)
		},
		"list": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.ListInstances(ctx, ListOptions{Status: r.Status, Name: r.Name, CreatedAfter: r.CreatedAfter,
				CreatedBefore: r.CreatedBefore, Limit: r.Limit, Cursor: r.Cursor})
		},
		"info": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.InstanceInfo(ctx, r.Instance)
		},
		"execution": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.ExecutionInfo(ctx, r.Instance, r.Execution)
		},
		"metrics": func(ctx context.Context, _ ServiceRequest) (any, error) {
			return c.SystemMetrics(ctx)
		},
		"queues": func(ctx context.Context, _ ServiceRequest) (any, error) {
			return c.QueueDepths(ctx)
		},
		"stats": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.InstanceStats(ctx, r.Instance)
		},
		"tree": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.InstanceTree(ctx, r.Instance)
		},
		"values": func(ctx context.Context, r ServiceRequest) (any, error) {
			return c.GetAllValues(ctx, r.Instance)
		},
	}
	for name, fn := range endpoints {
		if err := g.AddEndpoint(name, serviceHandler(fn)); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("duroxide: management endpoint %s: %w", name, err)
		}
	}
	return svc, nil
}

// decodeServiceRequest decodes a management request body; an empty body is the zero
// request. Any NATS client may send one: an undecodable body is an error wrapping
// [ErrInvalidInput] (a 400 reply).
func decodeServiceRequest(data []byte) (ServiceRequest, error) {
	var r ServiceRequest
	if len(data) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return ServiceRequest{}, fmt.Errorf("%w: request is not valid JSON: %v", ErrInvalidInput, err)
	}
	return r, nil
}

// serviceHandler decodes the request, runs fn with a deadline, and replies with JSON
// or a micro error: 400 for bad requests, 404 for a missing instance or execution, 503
// while the views are unavailable, 500 for store errors (and a reply that cannot be
// encoded). Every request gets exactly one reply.
func serviceHandler(fn func(context.Context, ServiceRequest) (any, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		r, err := decodeServiceRequest(req.Data())
		if err != nil {
			_ = req.Error("400", err.Error(), nil)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := fn(ctx, r)
		switch {
		case errors.Is(err, ErrInvalidInput):
			_ = req.Error("400", err.Error(), nil)
		case errors.Is(err, ErrInstanceNotFound), errors.Is(err, ErrExecutionNotFound):
			_ = req.Error("404", err.Error(), nil)
		case errors.Is(err, ErrViewsUnavailable):
			_ = req.Error("503", err.Error(), nil)
		case err != nil:
			_ = req.Error("500", err.Error(), nil)
		default:
			if err := req.RespondJSON(out); err != nil {
				// Nothing was sent (the reply could not be encoded): answer anyway, so
				// the client does not wait for its timeout.
				_ = req.Error("500", "reply cannot be encoded: "+err.Error(), nil)
			}
		}
	}
}
