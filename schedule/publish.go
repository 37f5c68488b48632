package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

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
	b, err := json.Marshal(set)
	if err != nil {
		return 0, fmt.Errorf("encode schedule set: %w", err)
	}
	k := newKeys(q.Keys().Prefix())
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gen, err := scriptPublish.Run(ctx, q.Client(), []string{k.config()}, string(b), set.Digest(), set.SHA, set.Source, time.Now().UnixMilli()).Int64()
	if err != nil {
		return 0, fmt.Errorf("publish schedule set %s: %w", set.Label(), err)
	}
	if err := q.Client().Publish(ctx, k.events(), "config "+strconv.FormatInt(gen, 10)).Err(); err != nil {
		return gen, fmt.Errorf("announce schedule set %s: %w (beats will see it on their next poll)", set.Label(), err)
	}
	return gen, nil
}

// ReadPublished returns the published set, or nil when there is none.
func ReadPublished(ctx context.Context, q *queue.Queue) (*Published, error) {
	return readPublished(ctx, q.Client(), newKeys(q.Keys().Prefix()), true)
}

func readPublished(ctx context.Context, rdb redis.UniversalClient, k keys, withSet bool) (*Published, error) {
	fields := []string{"gen", "digest", "sha", "source", "published_at"}
	if withSet {
		fields = append(fields, "set")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := rdb.HMGet(ctx, k.config(), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("read published schedule set %s: %w", k.config(), err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	if str(0) == "" {
		return nil, nil
	}
	p := &Published{Gen: toInt(str(0)), Digest: str(1), SHA: str(2), Source: str(3), PublishedAt: time.UnixMilli(toInt(str(4)))}
	if withSet {
		if p.Set, err = DecodeSet([]byte(str(5))); err != nil {
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
	sub := b.rdb.Subscribe(ctx, b.k.events())
	defer sub.Close()
	for err := b.startConfig(ctx); err != nil; err = b.startConfig(ctx) {
		b.log.Warn("publish schedules at start", "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
	msgs := sub.Channel()
	poll := time.NewTicker(b.opt.ConfigPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			if m == nil {
				continue
			}
			if strings.HasPrefix(m.Payload, "released ") {
				select {
				case b.wake <- struct{}{}:
				default:
				}
				continue
			}
			b.follow(ctx)
		case <-poll.C:
			b.follow(ctx)
		}
	}
}

// startConfig decides between the local set and the published one: a set
// published by the agent wins over a local file (the agent follows git);
// otherwise the beat publishes its own, the newest start wins.
func (b *Beat) startConfig(ctx context.Context) error {
	pub, err := readPublished(ctx, b.rdb, b.k, true)
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
	gen, err := Publish(ctx, b.q, cur.set)
	if err != nil && gen == 0 {
		return err
	}
	b.setGen(cur.set, gen)
	return nil
}

// follow loads the published set when it is not the loaded one.
func (b *Beat) follow(ctx context.Context) {
	head, err := readPublished(ctx, b.rdb, b.k, false)
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
	pub, err := readPublished(ctx, b.rdb, b.k, true)
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
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := b.rdb.Publish(ctx, b.k.events(), msg).Err(); err != nil {
		b.log.Debug("announce", "msg", msg, "err", err)
	}
}
