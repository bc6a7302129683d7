package digest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	netmail "net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
)

// Report counts what a delivery run did.
type Report struct {
	Sent, Failed, Skipped, Retry int
}

func (r *Report) add(o Report) {
	r.Sent += o.Sent
	r.Failed += o.Failed
	r.Skipped += o.Skipped
	r.Retry += o.Retry
}

// Progress is told the running totals after every batch.
type Progress func(Report)

// DeliverDue sends the due deliveries of every issue being sent, until
// none is left to claim now (retries wait for their time), and finishes
// the issues with nothing queued.
func (s *Service) DeliverDue(ctx context.Context, progress Progress) (Report, error) {
	issues, err := s.opts.Store.SendingIssues(ctx)
	if err != nil {
		return Report{}, err
	}
	var total Report
	var errs []error
	for _, is := range issues {
		r, err := s.DeliverIssue(ctx, is, progress)
		total.add(r)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// DeliverIssue sends the due deliveries of one issue with Workers batches
// at a time.
func (s *Service) DeliverIssue(ctx context.Context, is store.Issue, progress Progress) (Report, error) {
	n, err := s.Newsletter(is.List)
	if err != nil {
		// The list left the config with an issue under way: keep its
		// deliveries for when it comes back (or a cancel).
		if _, seen := s.orphans.LoadOrStore(is.ID, true); !seen {
			s.opts.Logger.Warn("digest: an issue of a list no longer in the config is not sent; bantin digest cancel drops it",
				"list", is.List, "issue", is.Number)
		}
		return Report{}, nil
	}
	issue, err := s.stored(ctx, n, is)
	if err != nil {
		return Report{}, err
	}
	mk := s.newMarker()
	defer mk.stop()
	var (
		cache variants
		mu    sync.Mutex
		total Report
		errs  []error
		wg    sync.WaitGroup
	)
	for range s.opts.Workers {
		wg.Go(func() {
			mk.senders.Add(1)
			defer mk.senders.Add(-1)
			for ctx.Err() == nil {
				// Nothing is claimed while the relay cannot be reached:
				// the copies stay queued as they are.
				if err := s.reachable(ctx); err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					return
				}
				ds, err := s.opts.Store.ClaimDeliveries(ctx, is.ID, s.opts.Now(), s.opts.Batch, s.opts.Lease)
				if err != nil || len(ds) == 0 {
					if err != nil && ctx.Err() == nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					return
				}
				r, err := s.sendBatch(ctx, mk, &cache, issue, ds)
				s.opts.Logger.Debug("digest: batch", "list", is.List, "issue", is.Number, "sent", r.Sent, "failed", r.Failed,
					"skipped", r.Skipped, "retry", r.Retry)
				if s.opts.Observe != nil {
					s.opts.Observe.Delivered(is.List, r)
				}
				mu.Lock()
				total.add(r)
				if err != nil {
					errs = append(errs, err)
				}
				now := total
				mu.Unlock()
				if progress != nil {
					progress(now)
				}
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return total, fmt.Errorf("deliver issue %d of %s: %w", is.Number, is.List, err)
	}
	if ctx.Err() == nil {
		done, err := s.opts.Store.FinishIssue(ctx, is.ID, s.opts.Now())
		if err != nil {
			return total, err
		}
		if done {
			s.opts.Logger.Info("digest: issue sent", "list", is.List, "issue", is.Number)
		}
	}
	return total, nil
}

// reachable asks the transport, when it can tell, whether its relay
// answers: a *mail.RelayError while it has given up on the relay.
func (s *Service) reachable(ctx context.Context) error {
	r, ok := s.opts.Transport.(interface{ Reachable(context.Context) error })
	if !ok {
		return nil
	}
	return r.Reachable(ctx)
}

// relayWatch follows the relay for the delivery loop of serve: a relay
// that cannot be reached is logged once, not on every poll, and delivery
// waits for the transport's next try of it.
type relayWatch struct {
	down *mail.RelayError
}

// after looks at one delivery run's outcome and returns how long to wait
// before the next one (poll, or longer while the relay is down) and
// whether err was the relay's, already logged.
func (w *relayWatch) after(logger *slog.Logger, r Report, err error, poll time.Duration) (time.Duration, bool) {
	var relay *mail.RelayError
	if errors.As(err, &relay) {
		if w.down == nil {
			logger.Warn("digest: the relay cannot be reached; sending paused, every copy stays queued",
				"relay", relay.Relay, "err", relay.Err, "next_try", relay.Until)
		}
		w.down = relay
		return max(time.Until(relay.Until), poll), true
	}
	if w.down != nil && r.Sent > 0 {
		logger.Info("digest: the relay answers again; sending resumed", "relay", w.down.Relay)
		w.down = nil
	}
	return poll, false
}

// stored rebuilds the render data of a stored issue from its articles. An
// article deleted since is left out.
func (s *Service) stored(ctx context.Context, n Newsletter, is store.Issue) (Issue, error) {
	arts := make([]article.Article, 0, len(is.ArticleIDs))
	for _, id := range is.ArticleIDs {
		a, err := s.opts.Store.Article(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return Issue{}, fmt.Errorf("issue %d of %s: %w", is.Number, is.List, err)
		}
		arts = append(arts, a)
	}
	return s.issue(n, is.Number, is.WindowEnd, arts), nil
}

// MessageID is the Message-ID of a subscriber's copy of an issue: the same
// every time it is sent, so a copy sent twice is known as one.
func (s *Service) MessageID(is Issue, subscriberID int64) string {
	domain := s.opts.From.Address[strings.LastIndexByte(s.opts.From.Address, '@')+1:]
	return fmt.Sprintf("%s.%d.%d@%s", is.List.ID, is.Number, subscriberID, domain)
}

// message renders one subscriber's copy.
func (s *Service) message(is Issue, to Recipient, messageID string) (mail.Message, error) {
	c, err := is.Render(s.opts.Emails, to)
	if err != nil {
		return mail.Message{}, err
	}
	return mail.Message{
		From: s.opts.From, ReplyTo: s.opts.ReplyTo, To: netmail.Address{Name: to.Name, Address: to.Email},
		Subject: c.Subject, Text: c.Text, HTML: c.HTML, MessageID: messageID, Date: s.opts.Now(), Headers: c.Headers,
	}, nil
}

// recipient makes a subscriber's personal links.
func (s *Service) recipient(list string, id int64, email, name string) (Recipient, error) {
	unsub, err := s.opts.Links.UnsubscribeLink(id, list)
	if err != nil {
		return Recipient{}, err
	}
	prefs, err := s.opts.Links.PreferencesLink(id)
	if err != nil {
		return Recipient{}, err
	}
	return Recipient{Email: email, Name: name, UnsubscribeURL: unsub, PreferencesURL: prefs}, nil
}

// sendBatch renders, sends and marks one claimed batch. The claims are
// renewed while the batch is in flight.
func (s *Service) sendBatch(ctx context.Context, mk *marker, cache *variants, is Issue, ds []store.Delivery) (r Report, retErr error) {
	var msgs []mail.Message
	var sending []store.Delivery
	for _, d := range ds {
		own := is
		own.Articles = narrow(is.Articles, d.Categories)
		if len(own.Articles) == 0 {
			if err := s.claimed(mk.mark(d, store.DeliverySkipped, time.Time{}, "nothing in the subscriber's categories")); err != nil {
				return r, err
			}
			r.Skipped++
			continue
		}
		to, err := s.recipient(is.List.ID, d.SubscriberID, d.Email, d.Name)
		if err != nil {
			return r, err
		}
		m, err := s.copyOf(s.variant(cache, own, d.Name != ""), to, s.MessageID(is, d.SubscriberID), s.opts.Now())
		if err != nil {
			// A template that fails for one reader fails for this
			// delivery only; the admin reads why in the counts.
			if err := s.claimed(mk.mark(d, store.DeliveryFailed, time.Time{}, err.Error())); err != nil {
				return r, err
			}
			r.Failed++
			continue
		}
		if s.opts.ReturnPath != nil {
			m.ReturnPath = s.opts.ReturnPath(d.IssueID, d.SubscriberID)
		}
		msgs = append(msgs, m)
		sending = append(sending, d)
	}
	if len(msgs) == 0 {
		return r, nil
	}

	// Each copy is its own SMTP transaction. A sent copy's mark goes to
	// the marker without waiting (pending), and the next copy goes out
	// meanwhile, up to its end of data, where it waits for that mark
	// (BeforeEnd): a crash repeats at most one accepted copy per worker,
	// the worker does not idle on the commit, and the marks of the
	// workers share commits. A transport that does not gate the end
	// (mail.EndGate) has each mark waited for before the next copy.
	// Meanwhile the claims on the rest of the batch are renewed; mu keeps
	// a renewal and a mark from crossing. A delivery whose claim could not
	// be renewed (another sender took it over, or the issue was cancelled)
	// is dropped from the batch.
	var mu sync.Mutex
	done := make([]bool, len(sending))
	flying := -1 // the copy in its SMTP transaction
	renewCtx, stopRenew := context.WithCancel(context.WithoutCancel(ctx))
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(s.opts.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			s.renew(renewCtx, mk, sending, done, flying)
			mu.Unlock()
		}
	}()
	defer func() {
		stopRenew()
		<-renewed
	}()

	// Sends go on StopGrace after ctx ends, so that a stop does not cut a
	// transaction in the middle.
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(s.opts.StopGrace, cancel) })
	defer stop()
	// giveBack releases the rest of the batch, due at next.
	giveBack := func(from int, next time.Time, why string) error {
		mu.Lock()
		defer mu.Unlock()
		for j := from; j < len(sending); j++ {
			if done[j] {
				continue
			}
			if err := s.claimed(mk.mark(sending[j], store.DeliveryQueued, next, why)); err != nil {
				return err
			}
			done[j] = true
		}
		return nil
	}
	var pending *pendingMark
	settle := func() error {
		if pending == nil {
			return nil
		}
		err := s.claimed(pending.wait())
		pending = nil
		return err
	}
	defer func() {
		if err := settle(); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	_, gated := s.opts.Transport.(mail.EndGate)
	signed, stopSigning := s.signAhead(msgs)
	defer stopSigning()
	for i := range msgs {
		m := <-signed
		if ctx.Err() != nil {
			// Stopping: give the rest back for the next sender, now.
			return r, giveBack(i, s.opts.Now(), "stopped before sending")
		}
		if !gated {
			if err := settle(); err != nil {
				return r, err
			}
		}
		mu.Lock()
		skip := done[i] || !sending[i].Claim.After(s.opts.Now())
		done[i] = done[i] || skip
		if !skip {
			flying = i
		}
		mu.Unlock()
		if skip {
			continue // the claim was lost or the issue cancelled
		}
		if p := pending; p != nil {
			m.BeforeEnd = func() error {
				// A lost claim is logged by settle, below.
				if err := p.wait(); err != nil && !errors.Is(err, store.ErrConflict) {
					return err
				}
				return nil
			}
		}
		res := s.opts.Transport.Send(sendCtx, []mail.Message{m})[0]
		if err := settle(); err != nil {
			// The copy before could not be marked: this one was held
			// back before its end of data. Its claim stays until the
			// lease ends, and it is sent again after that.
			mu.Lock()
			done[i], flying = true, -1
			mu.Unlock()
			return r, err
		}
		if res.Status == mail.Sent {
			mu.Lock()
			pending = mk.send(sending[i], store.DeliverySent, time.Time{}, "")
			done[i], flying = true, -1
			mu.Unlock()
			r.Sent++
			continue
		}
		mu.Lock()
		o, err := s.record(ctx, mk, sending[i], res)
		done[i], flying = true, -1
		mu.Unlock()
		if err != nil {
			return r, err
		}
		r.add(o)
		var relay *mail.RelayError
		if errors.As(res.Err, &relay) && relay.GaveUp {
			// The transport has given up on the relay: the rest of the
			// batch goes back untried, due now, and this worker stops;
			// nothing is claimed again until the relay answers.
			if err := giveBack(i+1, s.opts.Now(), "not tried: the relay cannot be reached"); err != nil {
				return r, err
			}
			r.Retry += len(sending) - i - 1
			return r, relay
		}
		if relay == nil && res.Status == mail.Temporary && res.Code == 0 && ctx.Err() == nil {
			// The relay dropped us: the rest of the batch waits as this
			// one does. (A relay that cannot be reached is the
			// transport's circuit's: the next copy waits for it.)
			next := s.opts.Now().Add(mail.Backoff(s.opts.RetryBase, s.opts.RetryMax, 1))
			if err := giveBack(i+1, next, "not tried: the relay failed on an earlier copy"); err != nil {
				return r, err
			}
			for j := i + 1; j < len(sending); j++ {
				r.Retry++
			}
			return r, nil
		}
	}
	return r, nil
}

// signer is a transport that signs a message ahead of its sending.
type signer interface {
	Sign(mail.Message) (mail.Message, error)
}

// signAhead returns msgs in order on a channel, signed a few messages
// ahead of the sending when the transport signs: the signatures of the
// next copies are made on another core while this one is on the wire and
// marked. A copy that fails to sign comes as it is: its sending signs it
// again, and fails as it would have. stop ends the signing early.
func (s *Service) signAhead(msgs []mail.Message) (signed <-chan mail.Message, stop func()) {
	sg, ok := s.opts.Transport.(signer)
	if !ok {
		out := make(chan mail.Message, len(msgs))
		for _, m := range msgs {
			out <- m
		}
		return out, func() {}
	}
	out := make(chan mail.Message, 2)
	quit := make(chan struct{})
	go func() {
		for _, m := range msgs {
			if sm, err := sg.Sign(m); err == nil {
				m = sm
			}
			select {
			case out <- m:
			case <-quit:
				return
			}
		}
	}()
	return out, func() { close(quit) }
}

// renew extends the claims of the deliveries of a batch not yet done. A
// delivery whose claim was not extended is done for this batch: another
// sender took it over, or its issue was cancelled, in which case it is
// marked skipped while its claim still holds; the copy in flight is left
// to finish and be marked with its outcome.
func (s *Service) renew(ctx context.Context, mk *marker, sending []store.Delivery, done []bool, flying int) {
	var held []store.Delivery
	for i, d := range sending {
		if !done[i] {
			held = append(held, d)
		}
	}
	if len(held) == 0 {
		return
	}
	kept, err := s.opts.Store.ExtendDeliveries(ctx, held, s.opts.Now().Add(s.opts.Lease))
	if err != nil {
		// The claims stand until their lease ends; the next tick tries
		// again, and a copy is not sent on an expired claim.
		s.opts.Logger.Warn("digest: renewing claims", "err", err)
		return
	}
	byID := make(map[int64]store.Delivery, len(kept))
	for _, d := range kept {
		byID[d.SubscriberID] = d
	}
	for i, d := range sending {
		if done[i] {
			continue
		}
		if k, ok := byID[d.SubscriberID]; ok {
			sending[i] = k
			continue
		}
		if i == flying {
			continue
		}
		done[i] = true
		// A claim that still matches belongs to a cancelled issue.
		if err := mk.mark(d, store.DeliverySkipped, time.Time{}, "cancelled"); err != nil && !errors.Is(err, store.ErrConflict) {
			s.opts.Logger.Warn("digest: marking a cancelled delivery", "err", err)
		}
	}
}

// record marks one outcome, as the outbox does.
func (s *Service) record(ctx context.Context, mk *marker, d store.Delivery, res mail.Result) (Report, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := s.opts.Now()
	reason := ""
	if res.Err != nil {
		reason = res.Err.Error()
	}
	var relay *mail.RelayError
	switch {
	case res.Status == mail.Sent:
		return Report{Sent: 1}, s.claimed(mk.mark(d, store.DeliverySent, time.Time{}, ""))
	case errors.As(res.Err, &relay):
		// The relay's failure, not the copy's: it stays queued, never
		// counts toward MaxAttempts and is no bounce.
		return Report{Retry: 1}, s.claimed(mk.mark(d, store.DeliveryQueued, now, reason))
	case res.Status == mail.Permanent:
		s.opts.Logger.Warn("digest: delivery failed", "issue", d.IssueID, "subscriber", d.SubscriberID, "code", res.Code, "recipient_refused", res.Rejected)
		if err := s.claimed(mk.mark(d, store.DeliveryFailed, time.Time{}, reason)); err != nil {
			return Report{}, err
		}
		if res.Rejected && s.opts.Bounces != nil {
			ev := bounce.Event{Source: "smtp", Kind: bounce.Hard, Recipient: d.Email, Reason: reason, At: now,
				ID: fmt.Sprintf("smtp:%d.%d", d.IssueID, d.SubscriberID)}
			if s.opts.ReturnPath != nil {
				// The copy's own token names the issue for the record.
				rp := s.opts.ReturnPath(d.IssueID, d.SubscriberID)
				if plus, at := strings.IndexByte(rp, '+'), strings.LastIndexByte(rp, '@'); plus >= 0 && at > plus {
					ev.Token = rp[plus+1 : at]
				}
			}
			// The Recorder logs what it did.
			if _, err := s.opts.Bounces.Record(ctx, ev); err != nil {
				s.opts.Logger.Warn("digest: bounce not recorded", "subscriber", d.SubscriberID, "err", err)
			}
		} else if res.Rejected {
			bounced, err := s.opts.Store.RecordBounce(ctx, d.SubscriberID, s.opts.BounceLimit)
			if err != nil {
				s.opts.Logger.Warn("digest: bounce not recorded", "subscriber", d.SubscriberID, "err", err)
			} else if bounced {
				s.opts.Logger.Info("subscriber bounced: no more mail", "subscriber", d.SubscriberID, "code", res.Code)
			}
		}
		return Report{Failed: 1}, nil
	case d.Attempts >= s.opts.MaxAttempts:
		s.opts.Logger.Warn("digest: delivery given up", "issue", d.IssueID, "subscriber", d.SubscriberID, "attempts", d.Attempts, "code", res.Code)
		return Report{Failed: 1}, s.claimed(mk.mark(d, store.DeliveryFailed, time.Time{},
			fmt.Sprintf("gave up after %d attempts: %s", d.Attempts, reason)))
	}
	next := now.Add(mail.Backoff(s.opts.RetryBase, s.opts.RetryMax, d.Attempts))
	return Report{Retry: 1}, s.claimed(mk.mark(d, store.DeliveryQueued, next, reason))
}

// claimed turns a lost claim into a log line: the delivery was taken over
// after this sender's lease ran out, and the other sender's outcome stands.
func (s *Service) claimed(err error) error {
	if errors.Is(err, store.ErrConflict) {
		s.opts.Logger.Warn("digest: a send outlived its claim; the delivery was taken over", "err", err)
		return nil
	}
	return err
}

// SendTest sends one copy of the issue list would send now to email,
// recorded nowhere (digest send --to). A subscriber gets their own links;
// anyone else gets links to the sign-up page. With nothing new since the
// last issue, the copy holds the last issue's articles (or, before the
// first issue, the latest articles within max_age) and its subject says
// it is a test, so that a template change can be tried at any time.
func (s *Service) SendTest(ctx context.Context, list, email string) (mail.Result, TestCopy, error) {
	is, err := s.Preview(ctx, list, time.Time{})
	if err != nil {
		return mail.Result{}, TestCopy{}, err
	}
	tc := TestCopy{Repeat: len(is.Articles) == 0}
	if tc.Repeat {
		if is, err = s.latest(ctx, list); err != nil {
			return mail.Result{}, TestCopy{}, err
		}
	}
	tc.Issue = is
	to := Recipient{Email: email, UnsubscribeURL: is.SubscribeURL(), PreferencesURL: is.SubscribeURL()}
	if sub, err := s.opts.Store.SubscriberByEmail(ctx, email); err == nil {
		if to, err = s.recipient(list, sub.ID, sub.Email, sub.Name); err != nil {
			return mail.Result{}, tc, err
		}
	}
	m, err := s.message(is, to, "")
	if err != nil {
		return mail.Result{}, tc, err
	}
	if tc.Repeat {
		m.Subject = testSubject(s.opts.Lang, m.Subject)
	}
	tc.Subject = m.Subject
	res := s.opts.Transport.Send(ctx, []mail.Message{m})
	return res[0], tc, res[0].Err
}

// TestCopy is what SendTest sent.
type TestCopy struct {
	Issue   Issue
	Subject string // as sent
	// Repeat is set when nothing was new: the copy holds the last
	// issue's articles (or the latest ones) and its subject says it is a
	// test.
	Repeat bool
}

// latest is the issue a test copy shows when nothing is new: the last
// issue again, as the templates render it now, or before the first issue
// the latest articles within max_age as issue 1.
func (s *Service) latest(ctx context.Context, list string) (Issue, error) {
	n, err := s.Newsletter(list)
	if err != nil {
		return Issue{}, err
	}
	number := 1
	last, err := s.opts.Store.LastIssue(ctx, n.ID)
	switch {
	case err == nil:
		number = last.Number + 1
		is, err := s.stored(ctx, n, last)
		if err != nil {
			return Issue{}, err
		}
		if len(is.Articles) > 0 {
			return is, nil
		}
		// Every article of the last issue was deleted since: as if none.
	case !errors.Is(err, store.ErrNotFound):
		return Issue{}, err
	}
	now := s.opts.Now()
	arts, err := s.Compose(ctx, n, Window{Start: time.Unix(0, 0), End: now})
	if err != nil {
		return Issue{}, err
	}
	if len(arts) == 0 {
		age := ""
		if n.MaxAge > 0 {
			age = fmt.Sprintf(" within its max_age (%s)", n.MaxAge)
		}
		return Issue{}, fmt.Errorf("nothing to send: %s has no issue and no articles%s in its categories", list, age)
	}
	return s.issue(n, number, now, arts), nil
}

// marker records the outcomes of one issue's deliveries. A sender hands
// its mark over and goes on with its next copy, which waits for the mark
// only before its end of data: a crash still repeats at most one accepted
// message per worker. The marker writes marks lazily, all those handed
// over in one store transaction (group commit), when someone waits for
// one of them (after up to markGrace for the other workers' marks) or
// when every worker has one in: with 16 KiB pages a commit writes its
// pages whole, so one commit per mark was a third of a copy's CPU.
type marker struct {
	s     *Service
	reqs  chan markReq  // buffered: a sender hands its mark over and goes on
	hurry chan struct{} // a waiter's nudge; the batch is looked at again
	done  chan struct{}
	// senders counts the workers sending: a sender has at most one mark
	// in flight, so a batch with that many is full.
	senders atomic.Int32
}

type markReq struct {
	mark store.DeliveryMark
	p    *pendingMark
}

// markDelay bounds how long a mark nobody waits for yet stays unwritten;
// markGrace how long a waiter waits for the other senders' marks.
const (
	markDelay = 20 * time.Millisecond
	markGrace = time.Millisecond
)

func (s *Service) newMarker() *marker {
	mk := &marker{s: s, reqs: make(chan markReq, 4*max(s.opts.Workers, 1)), hurry: make(chan struct{}, 1),
		done: make(chan struct{})}
	go mk.run()
	return mk
}

func (mk *marker) run() {
	defer close(mk.done)
	timer := time.NewTimer(markDelay)
	for req := range mk.reqs {
		batch := []markReq{req}
		// One mark in flight a sender: with all of them in, no more
		// can come before this commit.
		full := max(int(mk.senders.Load()), 1)
		timer.Reset(markDelay)
	more:
		for len(batch) < full && !waited(batch) {
			select {
			case r, ok := <-mk.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			case <-mk.hurry:
			case <-timer.C:
				break more
			}
		}
		if len(batch) < full && waited(batch) {
			// Someone waits, and the other senders' marks are due
			// within a copy's time: a little longer for them makes one
			// commit of what would be two or three.
			timer.Reset(markGrace)
			batch = mk.gather(batch, full, timer.C)
		}
		// Whatever else is in already goes in too.
		batch = mk.gather(batch, math.MaxInt, nil)
		marks := make([]store.DeliveryMark, len(batch))
		for i, r := range batch {
			marks[i] = r.mark
		}
		// Marks are written even when the daemon is stopping: the copies
		// went out. A store that fails (busy past its timeout) is tried
		// again for a while: a mark not written means a copy sent again.
		var errs []error
		var err error
		for attempt, wait := 0, 100*time.Millisecond; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errs, err = mk.s.opts.Store.MarkDeliveries(ctx, marks, mk.s.opts.Now())
			cancel()
			if err == nil || attempt == 5 {
				break
			}
			mk.s.opts.Logger.Warn("digest: recording deliveries failed; trying again", "err", err)
			time.Sleep(wait)
			wait *= 2
		}
		for i, r := range batch {
			if err != nil {
				r.p.reply <- err
			} else {
				r.p.reply <- errs[i]
			}
		}
	}
}

// gather appends to batch the marks handed over until it holds limit or
// until stop fires; with stop nil, only those already handed over.
func (mk *marker) gather(batch []markReq, limit int, stop <-chan time.Time) []markReq {
	for len(batch) < limit {
		var r markReq
		var ok bool
		if stop == nil {
			select {
			case r, ok = <-mk.reqs:
			default:
				return batch
			}
		} else {
			select {
			case r, ok = <-mk.reqs:
			case <-stop:
				return batch
			}
		}
		if !ok {
			return batch
		}
		batch = append(batch, r)
	}
	return batch
}

// waited reports whether someone waits for a mark of batch.
func waited(batch []markReq) bool {
	for _, r := range batch {
		if r.p.waiting.Load() {
			return true
		}
	}
	return false
}

// mark records one outcome and returns when it is stored.
func (mk *marker) mark(d store.Delivery, status store.DeliveryStatus, next time.Time, reason string) error {
	return mk.send(d, status, next, reason).wait()
}

// send hands one outcome to the marker and returns at once.
func (mk *marker) send(d store.Delivery, status store.DeliveryStatus, next time.Time, reason string) *pendingMark {
	p := &pendingMark{reply: make(chan error, 1), hurry: mk.hurry}
	mk.reqs <- markReq{mark: store.DeliveryMark{Delivery: d, Status: status, Next: next, Reason: reason}, p: p}
	return p
}

// pendingMark is a mark handed to the marker. Its wait may be called from
// the transport's goroutine (BeforeEnd) and again by the sender.
type pendingMark struct {
	reply   chan error
	hurry   chan<- struct{}
	waiting atomic.Bool
	once    sync.Once
	err     error
}

// wait returns once the mark is stored, with its outcome; the marker is
// told that someone waits, so that it writes the mark now.
func (p *pendingMark) wait() error {
	p.once.Do(func() {
		select {
		case p.err = <-p.reply:
			return
		default:
		}
		// Set before the nudge, which the marker answers by looking.
		p.waiting.Store(true)
		select {
		case p.hurry <- struct{}{}:
		default: // a nudge is there already
		}
		p.err = <-p.reply
	})
	return p.err
}

// stop ends the marker once every worker is done.
func (mk *marker) stop() {
	close(mk.reqs)
	<-mk.done
}
