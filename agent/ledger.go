package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/sync/webhook"
)

// DeliveryStore keeps the webhook ledger across restarts (*queue.Queue: a
// capped list in Redis).
type DeliveryStore interface {
	AppendDeliveries(ctx context.Context, records [][]byte, keep int) error
	Deliveries(ctx context.Context, n int) ([][]byte, error)
}

// ledgerKeeper writes the webhook ledger's deliveries to a DeliveryStore
// off the request path: Add only queues (a full queue drops), one
// goroutine writes what has queued in batches. A failed write is logged
// and counted, never seen by the sender of the delivery.
type ledgerKeeper struct {
	store   DeliveryStore
	keep    int
	log     *slog.Logger
	ch      chan webhook.Delivery
	unsaved atomic.Uint64 // deliveries dropped or whose write failed
	done    chan struct{}
}

// keeperQueue is how many deliveries may wait for Redis; keeperBatch, how
// many one write takes.
const keeperQueue, keeperBatch = 1024, 100

// keepLedger makes l outlive the process: it puts back the last keep
// deliveries the store holds (recorded by this agent or another of the
// cluster's before this process started; Redis unreachable: logged, the
// ledger starts empty), and writes every delivery l records from now on to
// the store, off the request path, until ctx ends (then what is queued).
// Wait on the keeper for those last writes.
func keepLedger(ctx context.Context, l *webhook.Ledger, store DeliveryStore, keep int, log *slog.Logger) *ledgerKeeper {
	if kept, err := loadDeliveries(ctx, store, keep); err != nil {
		log.Warn("webhook ledger: the deliveries kept in Redis are not shown", "err", err)
	} else {
		l.Restore(kept)
	}
	k := &ledgerKeeper{store: store, keep: keep, log: log, ch: make(chan webhook.Delivery, keeperQueue), done: make(chan struct{})}
	l.OnAdd(k.Add)
	go k.Run(ctx)
	return k
}

// Add queues d for Redis without blocking (webhook.Config.OnDelivery).
func (k *ledgerKeeper) Add(d webhook.Delivery) {
	select {
	case k.ch <- d:
	default:
		k.unsaved.Add(1)
	}
}

// Unsaved counts the deliveries kept in memory only.
func (k *ledgerKeeper) Unsaved() uint64 { return k.unsaved.Load() }

// Run writes queued deliveries until ctx ends, then what is still queued;
// Wait returns after that.
func (k *ledgerKeeper) Run(ctx context.Context) {
	defer close(k.done)
	for {
		select {
		case d := <-k.ch:
			k.write(ctx, d)
		case <-ctx.Done():
			for {
				select {
				case d := <-k.ch:
					k.write(ctx, d)
				default:
					return
				}
			}
		}
	}
}

// Wait waits for Run to return.
func (k *ledgerKeeper) Wait() { <-k.done }

// write writes first and whatever else is queued (up to keeperBatch) in
// one round trip, oldest first.
func (k *ledgerKeeper) write(ctx context.Context, first webhook.Delivery) {
	batch := []webhook.Delivery{first}
fill:
	for len(batch) < keeperBatch {
		select {
		case d := <-k.ch:
			batch = append(batch, d)
		default:
			break fill
		}
	}
	recs := make([][]byte, 0, len(batch))
	for _, d := range batch {
		if b, err := json.Marshal(d); err == nil {
			recs = append(recs, b)
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := k.store.AppendDeliveries(wctx, recs, k.keep); err != nil {
		k.unsaved.Add(uint64(len(batch)))
		k.log.Warn("webhook ledger: deliveries kept in memory only", "deliveries", len(batch), "err", err)
	}
}

// loadDeliveries reads the last n deliveries the store kept, newest first;
// a record that does not decode is skipped.
func loadDeliveries(ctx context.Context, store DeliveryStore, n int) ([]webhook.Delivery, error) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := store.Deliveries(lctx, n)
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Delivery, 0, len(raw))
	for _, b := range raw {
		var d webhook.Delivery
		if json.Unmarshal(b, &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}
