// Package store defines what bantin keeps and how any backend must behave.
// Backends live in the sub-packages (sqlite, later postgres) and all pass the
// conformance suite in storetest. Consumers declare the narrow slice of this
// contract that they use.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/article"
)

// The store's error vocabulary. Backends wrap these so callers can test with
// errors.Is whatever the backend.
var (
	// ErrNotFound: the thing asked for does not exist (or is not visible).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write would break a uniqueness rule.
	ErrConflict = errors.New("conflict")
	// ErrMigrationsPending: the store was made by an older version and
	// bantin serve or bantin migrate has not yet brought it up to date.
	ErrMigrationsPending = errors.New("migrations pending (run bantin migrate)")
)

// Outcome says what saving one article did.
type Outcome int

// The outcomes of saving an article.
const (
	Unchanged Outcome = iota // the same input was stored already: nothing written
	Created                  // a new article
	Updated                  // an existing article with new content: same id, slug and GUID
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Updated:
		return "updated"
	default:
		return "unchanged"
	}
}

// Saved is the result of saving one article.
type Saved struct {
	ID      string
	Slug    string
	GUID    string
	Outcome Outcome
}

// ArticleQuery selects articles, newest published first.
type ArticleQuery struct {
	Category string // a category slug; "" means every category
	Limit    int    // 0 means no limit
	Offset   int
	// Now hides articles published after it (scheduled ones) unless
	// IncludeScheduled is set. Public reads always pass the current time.
	Now              time.Time
	IncludeScheduled bool
}

// Issue is one sent (or sending) issue of a newsletter, as rendered.
type Issue struct {
	ID          int64
	List        string
	Number      int // 1, 2, … per list
	WindowStart time.Time
	WindowEnd   time.Time
	Subject     string
	HTML        string // as sent, without personal links
	Text        string
	ArticleIDs  []string
	Status      string // sending, sent, cancelled
	CreatedAt   time.Time
}

// Delivery is one subscriber's copy of an issue, as claimed for sending.
type Delivery struct {
	IssueID      int64
	SubscriberID int64
	Email, Name  string
	Categories   []string  // the subscriber's preferred categories; none means all
	Attempts     int       // counting this one
	Claim        time.Time // the lease; identifies the claim on marks
}

// DeliveryStatus is where one subscriber's copy of an issue stands.
type DeliveryStatus string

// The states of a delivery.
const (
	DeliveryQueued  DeliveryStatus = "queued"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
	DeliverySkipped DeliveryStatus = "skipped" // unsubscribed or bounced before their turn
)

// DeliveryMark is the outcome of one claimed delivery.
type DeliveryMark struct {
	Delivery Delivery
	Status   DeliveryStatus
	Next     time.Time // when a delivery queued again is due
	Reason   string
}

// WindowQuery selects the articles of one issue of a newsletter.
type WindowQuery struct {
	After, Until   time.Time // the window of visibility: (After, Until]
	PublishedSince time.Time // the list's max_age: older articles are history, not news
	Categories     []string  // category slugs; empty means every category
	Limit          int       // max_articles; 0 means no limit
}

// Store is the contract every backend implements.
type Store interface {
	// ArticleHashes returns the stored input hash of each id that exists,
	// so a caller can skip unchanged input before any costly work.
	ArticleHashes(ctx context.Context, ids []string) (map[string]string, error)
	// ArticleCategories returns the category slugs of each stored id, in
	// the article's order (ids without categories are absent).
	ArticleCategories(ctx context.Context, ids []string) (map[string][]string, error)
	// SetCategoryTitles stores the admin's titles of categories (the
	// config's), over any title an article gave; categories not stored
	// yet are created. An empty title is ignored.
	SetCategoryTitles(ctx context.Context, categories []article.Category) error
	// KnownSources maps each source hash that a stored article was last
	// read from to that article's id: input seen byte for byte before.
	KnownSources(ctx context.Context, sourceHashes []string) (map[string]string, error)
	// SaveArticles creates or updates articles in one transaction, in
	// order. now is the time of the save. GUID and Slug of each article are
	// proposals: they are kept at first store (the slug made unique) and
	// never changed by an update. An input hash equal to the stored one
	// writes nothing. A zero PublishedAt means "when first stored"; a zero
	// UpdatedAt means "when published". An update without a newer
	// UpdatedAt is dated now. A category's stored title is kept, except
	// one that is only its slug, which a real title given replaces.
	SaveArticles(ctx context.Context, now time.Time, articles []article.Article) ([]Saved, error)
	// Article returns the article with the id, scheduled or not.
	Article(ctx context.Context, id string) (article.Article, error)
	// ArticleBySlug returns the article with the slug, scheduled or not.
	ArticleBySlug(ctx context.Context, slug string) (article.Article, error)
	// Articles lists articles by q.
	Articles(ctx context.Context, q ArticleQuery) ([]article.Article, error)
	// WindowArticles lists the articles of a newsletter issue, newest
	// published first: those that became visible (the later of published
	// and first stored) after q.After and at or before q.Until, published
	// at or after q.PublishedSince, in any of q.Categories (none: all).
	WindowArticles(ctx context.Context, q WindowQuery) ([]article.Article, error)
	// CountArticles counts the articles q selects, ignoring its Limit and
	// Offset.
	CountArticles(ctx context.Context, q ArticleQuery) (int, error)
	// NextScheduled returns the earliest publication time after now, or
	// false when no article is scheduled.
	NextScheduled(ctx context.Context, now time.Time) (time.Time, bool, error)
	// Categories lists every category that has at least one article
	// published by now, by slug.
	Categories(ctx context.Context, now time.Time) ([]article.Category, error)
	// DeleteArticle removes an article for good.
	DeleteArticle(ctx context.Context, id string) error
	// Changes delivers a signal, coalesced, after any change to the stored
	// articles made by this process or by another process on the same
	// store, within a second. The channel closes when ctx ends.
	Changes(ctx context.Context) <-chan struct{}
	// SaveSubscription creates or renews a WebSub subscription.
	SaveSubscription(ctx context.Context, sub Subscription) error
	// DeleteSubscription removes one; a missing one is no error.
	DeleteSubscription(ctx context.Context, topic, callback string) error
	// Subscriptions lists the subscriptions whose lease runs past now and
	// forgets the others.
	Subscriptions(ctx context.Context, now time.Time) ([]Subscription, error)

	// SaveSubscriber creates the subscriber with s.Email (compared without
	// case) or returns the existing one unchanged: anyone can type an
	// address into a form, so a sign-up never renames someone.
	SaveSubscriber(ctx context.Context, s Subscriber, now time.Time) (Subscriber, error)
	// Subscriber returns a subscriber with its lists and categories.
	Subscriber(ctx context.Context, id int64) (Subscriber, error)
	// SubscriberByEmail finds a subscriber by address, without case.
	SubscriberByEmail(ctx context.Context, email string) (Subscriber, error)
	// SetListStatus sets the status of a subscriber's subscription to list.
	SetListStatus(ctx context.Context, subscriberID int64, list string, status SubscriptionStatus, now time.Time) error
	// SetCategories replaces a subscriber's category preferences.
	SetCategories(ctx context.Context, subscriberID int64, categories []string) error
	// ListSubscribers lists the subscribers of list with status, by address.
	ListSubscribers(ctx context.Context, list string, status SubscriptionStatus) ([]Subscriber, error)
	// RecordBounce counts a hard bounce; at limit the subscriber is
	// bounced (no more mail). It reports whether the subscriber is bounced.
	RecordBounce(ctx context.Context, subscriberID int64, limit int) (bool, error)
	// EraseSubscriber deletes every trace of the subscriber with email,
	// their bounce records included.
	EraseSubscriber(ctx context.Context, email string) error
	// AddBounce records b (one bounce, complaint or automatic reply about
	// b.SubscriberID) and applies what it does, in one transaction: a
	// hard bounce counts toward lim.Hard, soft bounces less than
	// lim.SoftWindow older than b.At (whatever order they arrive in)
	// toward lim.Soft (either limit reached: bounced), a complaint
	// unsubscribes from every list. It returns b
	// with its ID and Outcome; a b.EventID recorded before is ErrConflict
	// and changes nothing.
	AddBounce(ctx context.Context, b Bounce, lim BounceLimits) (Bounce, error)
	// Bounces lists bounce records, newest first, with the subscriber's
	// address.
	Bounces(ctx context.Context, q BounceQuery) ([]Bounce, error)
	// RenamePending sets the name of a subscriber confirmed on no list:
	// until a confirmation the last name typed into a sign-up wins, and
	// after it a public form renames nobody. It reports whether the name
	// was set.
	RenamePending(ctx context.Context, subscriberID int64, name string) (bool, error)
	// ClaimConfirmation records that a confirmation email goes to the
	// subscriber at now, unless one went after now-every; it reports
	// whether the caller may send. Of several processes asking at once,
	// one gets true: the limit holds across processes and restarts.
	ClaimConfirmation(ctx context.Context, subscriberID int64, now time.Time, every time.Duration) (bool, error)
	// DeleteStalePending deletes the pending subscriptions last signed up
	// for before before, and the subscribers they leave on no list at all
	// (with their queued mail); it returns the count of subscriptions
	// deleted.
	DeleteStalePending(ctx context.Context, before time.Time) (int, error)

	// EnqueueMail records a message to send; the same MessageID again is
	// not a second message (it reports false).
	EnqueueMail(ctx context.Context, m OutboxMail) (bool, error)
	// ClaimMail takes up to limit messages due at now for lease: no other
	// claim gets them until the lease runs out or they are marked.
	ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxMail, error)
	// MarkMailSent, MarkMailRetry and MarkMailFailed record a send's outcome
	// and end the claim. Only the holder of the claim m came with may mark:
	// once its lease ran out and another sender took the message, the mark
	// fails with ErrConflict and changes nothing.
	MarkMailSent(ctx context.Context, m OutboxMail, now time.Time) error
	MarkMailRetry(ctx context.Context, m OutboxMail, next time.Time, reason string) error
	MarkMailFailed(ctx context.Context, m OutboxMail, now time.Time, reason string) error
	// OutboxMail returns one message of the outbox, for tests and the CLI.
	OutboxMail(ctx context.Context, messageID string) (OutboxMail, error)

	// CreateIssue stores an issue and, in the same transaction, one queued
	// delivery per confirmed, not bounced subscriber of its list. The issue
	// of a list for a window end that has one already is ErrConflict: two
	// ticks never make two issues. It returns the issue with its id and
	// number and the count of deliveries.
	CreateIssue(ctx context.Context, is Issue) (Issue, int, error)
	// Issues lists a list's issues, newest first.
	Issues(ctx context.Context, list string) ([]Issue, error)
	// LastIssue returns a list's latest issue, ErrNotFound for none.
	LastIssue(ctx context.Context, list string) (Issue, error)
	// Issue returns a list's issue by number, ErrNotFound for none.
	Issue(ctx context.Context, list string, number int) (Issue, error)
	// SendingIssues lists the issues of every list still being sent,
	// oldest first.
	SendingIssues(ctx context.Context) ([]Issue, error)
	// FinishIssue marks an issue sent once none of its deliveries is
	// queued; it reports whether the issue is finished.
	FinishIssue(ctx context.Context, issueID int64, now time.Time) (bool, error)
	// CancelIssue stops a list's issue in progress: it is cancelled and its
	// queued deliveries not claimed at now are skipped (those in flight
	// finish). It returns the issue and the count dropped; ErrNotFound when
	// no issue of the list is being sent.
	CancelIssue(ctx context.Context, list string, now time.Time) (Issue, int, error)
	// ListStart returns when a list was first seen, recording now the
	// first time it is asked.
	ListStart(ctx context.Context, list string, now time.Time) (time.Time, error)
	// ClaimDeliveries claims up to limit due deliveries of an issue that
	// is being sent, for lease, with the address, name and categories to
	// send to. Queued deliveries whose subscriber has left the list or
	// bounced are skipped on the way (an unsubscribe takes effect at once).
	ClaimDeliveries(ctx context.Context, issueID int64, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// ExtendDeliveries moves the lease of claimed deliveries to until and
	// returns them with their new claims; deliveries whose claim was lost,
	// or whose issue is no longer being sent (cancelled), are left out.
	ExtendDeliveries(ctx context.Context, ds []Delivery, until time.Time) ([]Delivery, error)
	// MarkDelivery records the outcome of a claimed delivery: sent, failed,
	// skipped (nothing in it for this subscriber), or queued again for
	// next. Only the holder of the claim may mark (ErrConflict otherwise).
	MarkDelivery(ctx context.Context, d Delivery, status DeliveryStatus, next time.Time, reason string, now time.Time) error
	// MarkDeliveries records several outcomes in one transaction, as
	// MarkDelivery would one by one: one error per mark (ErrConflict for
	// a lost claim), and an error for the whole when nothing was written.
	MarkDeliveries(ctx context.Context, marks []DeliveryMark, now time.Time) ([]error, error)
	// DeliveryCounts counts an issue's deliveries by status.
	DeliveryCounts(ctx context.Context, issueID int64) (map[DeliveryStatus]int, error)

	// SourceStates returns what is remembered of every upstream feed.
	SourceStates(ctx context.Context) ([]SourceState, error)
	// SaveSourceState records the state of one upstream feed.
	SaveSourceState(ctx context.Context, st SourceState) error

	// AcquireLease takes or renews the lease called name for holder until
	// now+ttl, and reports whether holder has it: a lease held by another
	// holder that has not run out is not taken. Several processes on one
	// store use it so that exactly one runs the scheduler.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives up holder's lease called name, if it holds it.
	ReleaseLease(ctx context.Context, name, holder string) error

	// QueueDepth counts what waits to be sent: queued outbox messages and
	// queued deliveries of issues being sent.
	QueueDepth(ctx context.Context) (int, error)
	// SubscriberCounts counts list subscriptions by status, and bounced
	// subscribers under "bounced".
	SubscriberCounts(ctx context.Context) (map[string]int, error)
	// Recipients counts the subscribers an issue of list goes to: confirmed
	// on it and not bounced.
	Recipients(ctx context.Context, list string) (int, error)

	// Secret returns the secret called name, made of size random bytes the
	// first time any process asks, the same for every process after.
	Secret(ctx context.Context, name string, size int) ([]byte, error)

	// Migrate applies pending schema migrations and names those applied.
	Migrate(ctx context.Context) ([]string, error)
	// Ping checks that the store is reachable and its schema current.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// SubscriptionStatus is the state of a subscriber's subscription to a list.
type SubscriptionStatus string

// The states of a list subscription.
const (
	Pending      SubscriptionStatus = "pending"      // signed up, not confirmed yet
	Confirmed    SubscriptionStatus = "confirmed"    // gets the list's issues
	Unsubscribed SubscriptionStatus = "unsubscribed" // left; kept so the history is known
)

// Subscriber is a person who takes, took or asked for newsletters.
type Subscriber struct {
	ID         int64
	Email      string // as given
	Name       string
	Language   string
	Bounces    int
	Bounced    bool // reached subscribe.bounce_limit: no more mail
	CreatedAt  time.Time
	Lists      map[string]SubscriptionStatus
	Categories []string // preferred category slugs; empty means all
}

// Bounce is the record of one bounce, complaint or automatic reply.
type Bounce struct {
	ID           int64
	SubscriberID int64
	Email        string // the subscriber's address; read only
	IssueID      int64  // 0 when not known or a confirmation email
	List         string // "" when not known; AddBounce reads it off IssueID
	Source       string // import, imap, ses, mailgun, postmark, sendgrid, smtp
	Kind         string // hard, soft, complaint, auto-reply
	Status       string // the enhanced status code, "5.1.1"
	Reason       string
	EventID      string // "" for none: never a duplicate
	Outcome      string // counted, bounced, unsubscribed, ignored
	At           time.Time
}

// BounceLimits are the subscribe.* limits AddBounce applies.
type BounceLimits struct {
	Hard       int           // subscribe.bounce_limit
	Soft       int           // subscribe.soft_bounce_limit
	SoftWindow time.Duration // subscribe.soft_bounce_window
}

// BounceQuery selects bounce records: at or after Since (zero: all), of
// Kind ("" for every kind), at most Limit (0: 100).
type BounceQuery struct {
	Since time.Time
	Kind  string
	Limit int
}

// AddressRef names an address in errors and logs without showing it: a
// short hash of the address as compared (without case), the same in
// every process, so two log lines about one person can be matched.
func AddressRef(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "addr:" + hex.EncodeToString(sum[:6])
}

// MailStatus is where a message of the outbox stands.
type MailStatus string

// The states of an outbox message.
const (
	MailQueued MailStatus = "queued"
	MailSent   MailStatus = "sent"
	MailFailed MailStatus = "failed"
)

// OutboxMail is one message of the durable outbox. Payload is the message
// as the mail package encodes it; the store does not look inside.
type OutboxMail struct {
	ID           int64
	MessageID    string
	Kind         string // "confirm", "digest", …
	SubscriberID int64  // 0 when the message is for no subscriber
	Recipient    string
	Payload      []byte
	Status       MailStatus
	Attempts     int // sends tried so far
	NextAttempt  time.Time
	LastError    string
	CreatedAt    time.Time
	// Claim is the lease ClaimMail gave; it identifies the claim on marks.
	Claim time.Time
}

// SourceState is what bantin remembers of an upstream feed between polls.
type SourceState struct {
	Name string
	// URL is the feed's address as configured; FetchURL where it is
	// fetched now (a permanent redirect moves it while URL stays).
	URL, FetchURL string
	// ETag and LastModified are the validators of the last response.
	ETag, LastModified string
	LastFetch          time.Time
	LastStatus         int    // HTTP status of the last fetch; 0 when none came
	LastError          string // why the last poll failed; "" when it did not
	Failures           int    // failed polls in a row
	NextPoll           time.Time
	Entries            int // entries in the last feed read
}

// Subscription is a verified WebSub subscription to one of the site's
// feeds.
type Subscription struct {
	Topic     string // the feed's URL
	Callback  string // where new content is delivered
	Secret    string // HMAC key for X-Hub-Signature; "" for none
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Merge computes what an update stores: the new content with the identity
// and first-store time of the old article. It is shared by every backend
// so that they agree on dates.
func Merge(old, next article.Article, now time.Time) article.Article {
	next.GUID = old.GUID
	next.Slug = old.Slug
	next.StoredAt = old.StoredAt
	if next.PublishedAt.IsZero() {
		next.PublishedAt = old.PublishedAt
	}
	if next.UpdatedAt.IsZero() || !next.UpdatedAt.After(old.UpdatedAt) {
		next.UpdatedAt = now
	}
	if next.UpdatedAt.Before(next.PublishedAt) {
		next.UpdatedAt = next.PublishedAt
	}
	return next
}

// SameContent reports whether next, an article saved again from other
// input than the stored one (its InputHash differs), holds what old holds
// already: the same title, URL, author, summary, content, image and
// categories (by slug, in order), and the same dates, a date not given
// counting as the same. A store then reports it Unchanged and writes
// nothing, not even a new updated date: an article printed by `bantin
// articles show --json` and ingested back is the same article.
func SameContent(old, next article.Article) bool {
	if old.Title != next.Title || old.URL != next.URL || old.Author != next.Author ||
		old.Summary != next.Summary || old.ContentHTML != next.ContentHTML {
		return false
	}
	if (old.Image == nil) != (next.Image == nil) || (old.Image != nil && *old.Image != *next.Image) {
		return false
	}
	if len(old.Categories) != len(next.Categories) {
		return false
	}
	for i := range old.Categories {
		if old.Categories[i].Slug != next.Categories[i].Slug {
			return false
		}
	}
	sameDate := func(was, is time.Time) bool { return is.IsZero() || is.Equal(was) }
	return sameDate(old.PublishedAt, next.PublishedAt) && sameDate(old.UpdatedAt, next.UpdatedAt)
}

// Fill completes the dates of an article stored for the first time.
func Fill(a article.Article, now time.Time) article.Article {
	a.StoredAt = now
	if a.PublishedAt.IsZero() {
		a.PublishedAt = now
	}
	if a.UpdatedAt.IsZero() || a.UpdatedAt.Before(a.PublishedAt) {
		a.UpdatedAt = a.PublishedAt
	}
	return a
}
