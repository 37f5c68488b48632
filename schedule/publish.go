package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// Published is the schedule set published in Redis for the beats of a
// namespace ("<prefix>{beat}:config"), with its generation: every
// publication increments it, and the beats load the newest.
type Published struct {
	Set         *Set      `json:"-"`
	Gen         int64     `json:"gen"`
	Digest      string    `json:"digest"`
	SHA         string    `json:"sha,omitempty"`
	Source      string    `json:"source,omitempty"`
	PublishedAt time.Time `json:"published_at"`
	Schedules   int       `json:"schedules"`
}

// Publish stores set as the namespace's schedule set and tells the beats
// (pub/sub on "<prefix>{beat}:events"; beats also poll). The GitOps agent
// calls it with Source "agent" after each applied commit. It returns the
// new generation.
func Publish(ctx context.Context, q *queue.Queue, set *Set) (int64, error) {
	return publish(ctx, q.Beat(), set)
}

func publish(ctx context.Context, st store, set *Set) (int64, error) {
	b, err := json.Marshal(set)
	if err != nil {
		return 0, fmt.Errorf("encode schedule set: %w", err)
	}
	gen, err := st.Publish(ctx, b, set.Digest(), set.SHA, set.Source)
	switch {
	case err != nil && gen == 0:
		return 0, fmt.Errorf("publish schedule set %s: %w", set.Label(), err)
	case err != nil:
		return gen, fmt.Errorf("announce schedule set %s: %w (beats will see it on their next poll)", set.Label(), err)
	}
	return gen, nil
}

// ReadPublished returns the published set, or nil when there is none.
func ReadPublished(ctx context.Context, q *queue.Queue) (*Published, error) {
	return readPublished(ctx, q.Beat(), true)
}

func readPublished(ctx context.Context, st store, withSet bool) (*Published, error) {
	raw, err := st.ReadPublished(ctx, withSet)
	if err != nil || raw == nil {
		return nil, err
	}
	p := &Published{Gen: raw.Gen, Digest: raw.Digest, SHA: raw.SHA, Source: raw.Source, PublishedAt: time.UnixMilli(raw.PublishedAtMS)}
	if withSet {
		if p.Set, err = DecodeSet(raw.Set); err != nil {
			return nil, fmt.Errorf("published schedule set gen %d: %w", p.Gen, err)
		}
		p.Schedules = len(p.Set.Schedules)
	}
	return p, nil
}

// watchConfig publishes or adopts the set at start, then follows
// publications (pub/sub, and a poll in case a message was missed) and
// wakes the campaign when a leader releases the lease.
func (b *Beat) watchConfig(ctx context.Context) {
	sub := b.st.Subscribe(ctx)
	defer sub.Close()
	for err := b.startConfig(ctx); err != nil; err = b.startConfig(ctx) {
		b.log.Warn("publish schedules at start", "err", err)
		if !queue.Sleep(ctx, time.Second) {
			return
		}
	}
	b.noteFleet(ctx)
	msgs := sub.C
	poll := time.NewTicker(b.opt.ConfigPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				msgs = nil // closed: poll only
				continue
			}
			if strings.HasPrefix(m, "released ") {
				select {
				case b.wake <- struct{}{}:
				default:
				}
				continue
			}
			if isFleetEvent(m) { // cl cluster switch waits for every beat to report it
				b.noteFleet(ctx)
				continue
			}
			b.follow(ctx)
		case <-poll.C:
			b.follow(ctx)
			b.noteFleet(ctx)
		}
	}
}

// startConfig decides between the local set and the published one: a set
// published by the agent wins over a local file (the agent follows git);
// otherwise the beat publishes its own, the newest start wins.
func (b *Beat) startConfig(ctx context.Context) error {
	pub, err := readPublished(ctx, b.st, true)
	if err != nil {
		return err
	}
	cur := b.cur.Load()
	switch {
	case pub != nil && pub.Digest == cur.digest:
		b.setGen(cur.set, pub.Gen)
		return nil
	case pub != nil && pub.Source == "agent" && cur.set.Source != "agent":
		b.log.Info("following the schedules published by the agent; SIGHUP publishes the local file", "sha", pub.SHA, "gen", pub.Gen)
		b.apply(pub.Set, pub.Gen)
		return nil
	}
	gen, err := publish(ctx, b.st, cur.set)
	if err != nil && gen == 0 {
		return err
	}
	b.setGen(cur.set, gen)
	return nil
}

// follow loads the published set when it is not the loaded one.
func (b *Beat) follow(ctx context.Context) {
	head, err := readPublished(ctx, b.st, false)
	if err != nil {
		b.log.Warn("poll published schedules", "err", err)
		return
	}
	if head == nil { // Redis lost its data (or a restore removed it): publish ours again
		if err := b.startConfig(ctx); err != nil {
			b.log.Warn("republish schedules", "err", err)
		}
		return
	}
	cur := b.cur.Load()
	if head.Gen == cur.gen { // generations only change by publication (or a reset of Redis)
		return
	}
	if head.Digest == cur.digest {
		b.setGen(cur.set, head.Gen)
		return
	}
	pub, err := readPublished(ctx, b.st, true)
	if err != nil {
		b.log.Warn("load published schedules", "err", err)
		return
	}
	if pub == nil {
		return // deleted meanwhile (a restore); keep what is loaded
	}
	b.apply(pub.Set, pub.Gen)
}

// announce publishes an event to the other beats.
func (b *Beat) announce(ctx context.Context, msg string) {
	if err := b.st.Announce(ctx, msg); err != nil {
		b.log.Debug("announce", "msg", msg, "err", err)
	}
}
