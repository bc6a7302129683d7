package subscriber

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/locale"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
)

// Store is what the service keeps subscribers in.
type Store interface {
	SaveSubscriber(ctx context.Context, s store.Subscriber, now time.Time) (store.Subscriber, error)
	Subscriber(ctx context.Context, id int64) (store.Subscriber, error)
	SubscriberByEmail(ctx context.Context, email string) (store.Subscriber, error)
	SetListStatus(ctx context.Context, subscriberID int64, list string, status store.SubscriptionStatus, now time.Time) error
	SetCategories(ctx context.Context, subscriberID int64, categories []string) error
	ListSubscribers(ctx context.Context, list string, status store.SubscriptionStatus) ([]store.Subscriber, error)
	EraseSubscriber(ctx context.Context, email string) error
	RenamePending(ctx context.Context, subscriberID int64, name string) (bool, error)
	ClaimConfirmation(ctx context.Context, subscriberID int64, now time.Time, every time.Duration) (bool, error)
	DeleteStalePending(ctx context.Context, before time.Time) (int, error)
}

// Mailer queues a message for sending (mail.Outbox).
type Mailer interface {
	Enqueue(ctx context.Context, kind string, subscriberID int64, m mail.Message) (string, error)
}

// Renderer renders an email's text and HTML parts (templates.Set).
type Renderer interface {
	RenderEmail(name string, data any) (text, html string, err error)
}

// List is a newsletter people subscribe to (the config's newsletters).
type List struct {
	ID, Title, Description string
}

// Options configures a Service.
type Options struct {
	Store       Store
	Mailer      Mailer
	Emails      Renderer
	Tokens      *Tokens
	Lists       []List
	SiteTitle   string
	BaseURL     string // without a trailing slash
	Language    string // vi or en
	From        netmail.Address
	ReplyTo     *netmail.Address
	DoubleOptIn bool
	ConfirmTTL  time.Duration
	// ReturnPath, when not nil, is the VERP envelope sender of
	// confirmation emails (mail.return_path).
	ReturnPath *ReturnPath
	// ConfirmResend is the least time between two confirmation emails to
	// one address, whoever asks (subscribe.confirm_resend); 0 for none.
	ConfirmResend time.Duration
	Now           func() time.Time
}

// Service is what readers and admins do with subscriptions.
type Service struct {
	opts    Options
	listsMu sync.RWMutex // guards opts.Lists, which a reload replaces
}

// NewService builds a Service.
func NewService(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConfirmTTL <= 0 {
		opts.ConfirmTTL = 168 * time.Hour
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	return &Service{opts: opts}
}

// Lists are the newsletters one can subscribe to.
func (s *Service) Lists() []List {
	s.listsMu.RLock()
	defer s.listsMu.RUnlock()
	return s.opts.Lists
}

// SetLists replaces the newsletters (a reloaded config).
func (s *Service) SetLists(lists []List) {
	s.listsMu.Lock()
	defer s.listsMu.Unlock()
	s.opts.Lists = lists
}

func (s *Service) list(id string) (List, bool) {
	for _, l := range s.Lists() {
		if l.ID == id {
			return l, true
		}
	}
	return List{}, false
}

// maxEmail and maxName bound what a form may store.
const (
	maxEmail = 254
	maxName  = 100
)

// CleanEmail checks an address as a person types it: one plain address,
// no display name, no line breaks, a real host name after the @ (see
// mail.CleanAddress). It returns the address as it is stored: the local
// part as typed, the domain in lower case as IDNA A-labels (comparisons
// ignore case). The form, the API, the CLI and CSV import all use it.
func CleanEmail(raw string) (string, error) {
	email := strings.TrimSpace(raw)
	if email == "" {
		return "", &article.FieldError{Field: "email", Reason: "missing; give an email address"}
	}
	invalid := &article.FieldError{Field: "email", Reason: fmt.Sprintf("%q is not an email address", trimForMessage(email))}
	if len(email) > maxEmail || strings.ContainsAny(email, "\r\n\t <>\"(),;:\\[]") {
		return "", invalid
	}
	clean, err := mail.CleanAddress(email)
	if errors.Is(err, mail.ErrLocalPartNotASCII) {
		return "", &article.FieldError{Field: "email", Reason: fmt.Sprintf("%q: the part before @ is not ASCII; such an address is reached only through relays that all take SMTPUTF8, which bantin cannot know, so it is not taken", trimForMessage(email))}
	}
	if err != nil {
		return "", invalid
	}
	if a, err := netmail.ParseAddress(clean); err != nil || a.Address != clean {
		return "", invalid
	}
	return clean, nil
}

// CleanName keeps a name to one line of printable text.
func CleanName(raw string) (string, error) {
	name := strings.Join(strings.Fields(norm.NFC.String(article.RemoveXMLInvalid(raw))), " ")
	if len([]rune(name)) > maxName {
		return "", &article.FieldError{Field: "name", Reason: fmt.Sprintf("longer than %d characters", maxName)}
	}
	return name, nil
}

func trimForMessage(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// SignUp is what a reader asks for on the subscribe form.
type SignUp struct {
	Email, Name string
	Lists       []string
	Language    string
}

// Outcome says what a sign-up did.
type Outcome struct {
	Subscriber store.Subscriber
	Pending    []string // lists waiting for the confirmation email's link
	Confirmed  []string // lists confirmed now (without double opt-in)
	// Already are lists the address was confirmed on before. A public page
	// must not tell them apart from Pending: that would say who reads what.
	Already []string
	// CheckEmail says that the answer is "check your email": double
	// opt-in is on. It is the same for every sign-up, whatever the address
	// and whatever was done, so the answer tells nobody who reads what.
	CheckEmail bool
	// Emailed says whether a confirmation email was queued: not when one
	// went to the address within subscribe.confirm_resend. A public page
	// must not show it either.
	Emailed bool
}

// Subscribe records a sign-up. With double opt-in, the lists wait for the
// link in a confirmation email; lists already confirmed stay so. A
// bounced subscriber gets nothing.
func (s *Service) Subscribe(ctx context.Context, in SignUp) (Outcome, error) {
	email, err := CleanEmail(in.Email)
	if err != nil {
		return Outcome{}, err
	}
	name, err := CleanName(in.Name)
	if err != nil {
		return Outcome{}, err
	}
	if len(in.Lists) == 0 {
		return Outcome{}, &article.FieldError{Field: "list", Reason: "choose at least one newsletter"}
	}
	var lists []List
	for _, id := range in.Lists {
		l, ok := s.list(id)
		if !ok {
			return Outcome{}, &article.FieldError{Field: "list", Reason: fmt.Sprintf("no newsletter %q", trimForMessage(id))}
		}
		if !slices.Contains(lists, l) {
			lists = append(lists, l)
		}
	}
	lang := in.Language
	if lang != "vi" && lang != "en" {
		lang = s.opts.Language
	}
	now := s.opts.Now()
	sub, err := s.opts.Store.SaveSubscriber(ctx, store.Subscriber{Email: email, Name: name, Language: lang}, now)
	if err != nil {
		return Outcome{}, fmt.Errorf("sign-up to %s: %w", strings.Join(in.Lists, ","), err)
	}
	// Until a confirmation the last name typed wins (the person may fix a
	// typo, or follow a stranger who typed junk); a confirmed subscriber's
	// name is theirs, and the store refuses to change it.
	if name != "" && name != sub.Name {
		if _, err := s.opts.Store.RenamePending(ctx, sub.ID, name); err != nil {
			return Outcome{}, fmt.Errorf("sign-up of subscriber %d: %w", sub.ID, err)
		}
	}
	out := Outcome{Subscriber: sub, CheckEmail: s.opts.DoubleOptIn}
	for _, l := range lists {
		if sub.Lists[l.ID] == store.Confirmed {
			out.Already = append(out.Already, l.ID)
			continue
		}
		status := store.Confirmed
		if s.opts.DoubleOptIn {
			status = store.Pending
		}
		if err := s.opts.Store.SetListStatus(ctx, sub.ID, l.ID, status, now); err != nil {
			return Outcome{}, fmt.Errorf("sign-up of subscriber %d: %w", sub.ID, err)
		}
		if status == store.Pending {
			out.Pending = append(out.Pending, l.ID)
		} else {
			out.Confirmed = append(out.Confirmed, l.ID)
		}
	}
	if out.Subscriber, err = s.opts.Store.Subscriber(ctx, sub.ID); err != nil {
		return Outcome{}, fmt.Errorf("sign-up of subscriber %d: %w", sub.ID, err)
	}
	if len(out.Pending) > 0 && !sub.Bounced {
		// One confirmation per address per confirm_resend, whoever signs it
		// up and from wherever: the form cannot be used to flood someone.
		ok, err := s.opts.Store.ClaimConfirmation(ctx, sub.ID, now, s.opts.ConfirmResend)
		if err != nil {
			return Outcome{}, fmt.Errorf("sign-up of subscriber %d: %w", sub.ID, err)
		}
		if ok {
			if err := s.sendConfirmation(ctx, out.Subscriber); err != nil {
				return Outcome{}, fmt.Errorf("confirmation for subscriber %d: %w", sub.ID, err)
			}
			out.Emailed = true
		}
	}
	return out, nil
}

// sendConfirmation queues the double opt-in email for the lists the
// subscriber is pending on. Its link confirms those and nothing added later
// by anyone else. It carries nothing anyone typed but the address it goes
// to: no name (a stranger may have typed one), so the form cannot be used
// to send words of one's choosing to someone else.
func (s *Service) sendConfirmation(ctx context.Context, sub store.Subscriber) error {
	var ids, lists []string
	for _, l := range s.Lists() {
		if sub.Lists[l.ID] == store.Pending {
			ids = append(ids, l.ID)
			lists = append(lists, l.Title)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	asked := strings.Join(ids, ",")
	if len(asked) > 255 {
		asked = "" // too many for a token: every list pending at confirmation
	}
	token, err := s.opts.Tokens.Make(Claims{Purpose: Confirm, SubscriberID: sub.ID, List: asked,
		Expires: s.opts.Now().Add(s.opts.ConfirmTTL)})
	if err != nil {
		return err
	}
	lang := sub.Language
	if lang == "" {
		lang = s.opts.Language
	}
	subject := locale.T(lang, "email.confirm_subject", s.opts.SiteTitle)
	ttl := locale.T(lang, "email.ttl_days", int(s.opts.ConfirmTTL.Hours()/24))
	if s.opts.ConfirmTTL < 48*time.Hour {
		ttl = locale.T(lang, "email.ttl_hours", max(1, int(s.opts.ConfirmTTL.Hours())))
	}
	text, html, err := s.opts.Emails.RenderEmail("confirm", map[string]any{
		"Lang": lang, "Site": s.opts.SiteTitle, "SiteURL": s.opts.BaseURL + "/",
		"Lists": lists, "ConfirmURL": s.opts.BaseURL + "/confirm/" + token, "TTL": ttl, "Subject": subject,
	})
	if err != nil {
		return err
	}
	m := mail.Message{
		From: s.opts.From, ReplyTo: s.opts.ReplyTo, To: netmail.Address{Address: sub.Email},
		Subject: subject, Text: text, HTML: html,
	}
	if s.opts.ReturnPath != nil {
		m.ReturnPath = s.opts.ReturnPath.For(0, sub.ID)
	}
	_, err = s.opts.Mailer.Enqueue(ctx, "confirm", sub.ID, m)
	return err
}

// LookupConfirm reads a confirmation link without changing anything: mail
// scanners open links, and a GET must not confirm. It returns the
// subscriber and the lists the link would confirm now.
func (s *Service) LookupConfirm(ctx context.Context, token string) (store.Subscriber, []string, error) {
	c, err := s.opts.Tokens.Check(token, Confirm, s.opts.Now())
	if err != nil {
		return store.Subscriber{}, nil, err
	}
	sub, err := s.opts.Store.Subscriber(ctx, c.SubscriberID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Subscriber{}, nil, ErrBadToken
	}
	if err != nil {
		return store.Subscriber{}, nil, fmt.Errorf("confirmation of subscriber %d: %w", c.SubscriberID, err)
	}
	var lists []string
	asked := strings.Split(c.List, ",")
	for list, status := range sub.Lists {
		if status == store.Pending && (c.List == "" || slices.Contains(asked, list)) {
			lists = append(lists, list)
		}
	}
	slices.Sort(lists)
	return sub, lists, nil
}

// Confirm follows a confirmation link (the button of its page): the lists
// it was sent for that are still pending become confirmed. It returns the
// subscriber and the lists confirmed now.
func (s *Service) Confirm(ctx context.Context, token string) (store.Subscriber, []string, error) {
	return s.ConfirmLists(ctx, token, nil)
}

// ConfirmLists is Confirm for the lists the person ticked on the
// confirmation page: any they are pending on, also those signed up for
// after the email went out (subscribe.confirm_resend sends no second
// email for them). nil means the lists of the link.
func (s *Service) ConfirmLists(ctx context.Context, token string, chosen []string) (store.Subscriber, []string, error) {
	sub, lists, err := s.LookupConfirm(ctx, token)
	if err != nil {
		return store.Subscriber{}, nil, err
	}
	if chosen != nil {
		lists = nil
		for list, status := range sub.Lists {
			if status == store.Pending && slices.Contains(chosen, list) {
				lists = append(lists, list)
			}
		}
		slices.Sort(lists)
	}
	for _, list := range lists {
		if err := s.opts.Store.SetListStatus(ctx, sub.ID, list, store.Confirmed, s.opts.Now()); err != nil {
			return store.Subscriber{}, nil, fmt.Errorf("confirmation of subscriber %d: %w", sub.ID, err)
		}
	}
	sub, err = s.opts.Store.Subscriber(ctx, sub.ID)
	if err != nil {
		return store.Subscriber{}, nil, fmt.Errorf("confirmation of subscriber %d: %w", sub.ID, err)
	}
	return sub, lists, nil
}

// DeleteStale deletes the sign-ups left pending longer than
// subscribe.confirm_ttl (their links have expired) and the people they
// leave on no list: an address typed into the form by someone else is not
// kept for ever. It returns the count of sign-ups deleted.
func (s *Service) DeleteStale(ctx context.Context) (int, error) {
	n, err := s.opts.Store.DeleteStalePending(ctx, s.opts.Now().Add(-s.opts.ConfirmTTL))
	if err != nil {
		return 0, fmt.Errorf("delete pending sign-ups older than %s: %w", s.opts.ConfirmTTL, err)
	}
	return n, nil
}

// SweepStale runs DeleteStale now and then every period until ctx ends,
// logging what it deleted and any failure.
func (s *Service) SweepStale(ctx context.Context, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.DeleteStale(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("pending sign-ups not deleted", "err", err)
		case n > 0:
			logger.Info("pending sign-ups deleted", "count", n, "older_than", s.opts.ConfirmTTL)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// UnsubscribeLink is the one-click link for a subscriber and a list ("" for
// every list); it never expires.
func (s *Service) UnsubscribeLink(subscriberID int64, list string) (string, error) {
	t, err := s.opts.Tokens.Make(Claims{Purpose: Unsubscribe, SubscriberID: subscriberID, List: list})
	if err != nil {
		return "", err
	}
	return s.opts.BaseURL + "/unsubscribe/" + t, nil
}

// PreferencesLink is the link to a subscriber's preferences page.
func (s *Service) PreferencesLink(subscriberID int64) (string, error) {
	t, err := s.opts.Tokens.Make(Claims{Purpose: Preferences, SubscriberID: subscriberID})
	if err != nil {
		return "", err
	}
	return s.opts.BaseURL + "/preferences/" + t, nil
}

// Unsubscription is who an unsubscribe link is for, to show before the
// button is pressed.
type Unsubscription struct {
	Subscriber store.Subscriber
	List       string // "" for every list
}

// LookupUnsubscribe reads an unsubscribe link without changing anything:
// mail scanners open links, and a GET must not unsubscribe.
func (s *Service) LookupUnsubscribe(ctx context.Context, token string) (Unsubscription, error) {
	c, err := s.opts.Tokens.Check(token, Unsubscribe, s.opts.Now())
	if err != nil {
		return Unsubscription{}, err
	}
	sub, err := s.opts.Store.Subscriber(ctx, c.SubscriberID)
	if errors.Is(err, store.ErrNotFound) {
		return Unsubscription{}, ErrBadToken
	}
	return Unsubscription{Subscriber: sub, List: c.List}, err
}

// Unsubscribe follows an unsubscribe link: the list it names, or every
// list when all is set or the link names none. It takes effect at once.
func (s *Service) Unsubscribe(ctx context.Context, token string, all bool) (Unsubscription, error) {
	u, err := s.LookupUnsubscribe(ctx, token)
	if err != nil {
		return Unsubscription{}, err
	}
	for list, status := range u.Subscriber.Lists {
		if (all || u.List == "" || list == u.List) && status != store.Unsubscribed {
			if err := s.opts.Store.SetListStatus(ctx, u.Subscriber.ID, list, store.Unsubscribed, s.opts.Now()); err != nil {
				return Unsubscription{}, err
			}
		}
	}
	if all {
		u.List = ""
	}
	u.Subscriber, err = s.opts.Store.Subscriber(ctx, u.Subscriber.ID)
	return u, err
}

// Preferences returns the subscriber a preferences link is for.
func (s *Service) Preferences(ctx context.Context, token string) (store.Subscriber, error) {
	c, err := s.opts.Tokens.Check(token, Preferences, s.opts.Now())
	if err != nil {
		return store.Subscriber{}, err
	}
	sub, err := s.opts.Store.Subscriber(ctx, c.SubscriberID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Subscriber{}, ErrBadToken
	}
	return sub, err
}

// SavePreferences applies a preferences form: the lists kept (those not
// among them are left) and the categories wanted (none for all). A list
// left before is not re-joined here: that takes a new sign-up and its
// confirmation, so double opt-in cannot be stepped around.
func (s *Service) SavePreferences(ctx context.Context, token string, keep []string, categories []string) (store.Subscriber, error) {
	sub, err := s.Preferences(ctx, token)
	if err != nil {
		return store.Subscriber{}, err
	}
	now := s.opts.Now()
	for list, status := range sub.Lists {
		want := slices.Contains(keep, list)
		switch {
		case !want && status != store.Unsubscribed:
			err = s.opts.Store.SetListStatus(ctx, sub.ID, list, store.Unsubscribed, now)
		}
		if err != nil {
			return store.Subscriber{}, err
		}
	}
	var cats []string
	for _, c := range categories {
		if slug := article.CategorySlug(c); slug != "" && !slices.Contains(cats, slug) {
			cats = append(cats, slug)
		}
	}
	if err := s.opts.Store.SetCategories(ctx, sub.ID, cats); err != nil {
		return store.Subscriber{}, err
	}
	return s.opts.Store.Subscriber(ctx, sub.ID)
}

// Add subscribes an address to a list as an admin does: confirmed at once
// when confirmed is set, else through the sign-up path (a confirmation
// email with double opt-in). It reports whether anything changed.
func (s *Service) Add(ctx context.Context, list, email, name string, confirmed bool) (store.Subscriber, bool, error) {
	if !confirmed {
		out, err := s.Subscribe(ctx, SignUp{Email: email, Name: name, Lists: []string{list}})
		return out.Subscriber, len(out.Pending) > 0, err
	}
	clean, err := CleanEmail(email)
	if err != nil {
		return store.Subscriber{}, false, err
	}
	if name, err = CleanName(name); err != nil {
		return store.Subscriber{}, false, err
	}
	if _, ok := s.list(list); !ok {
		return store.Subscriber{}, false, &article.FieldError{Field: "list", Reason: fmt.Sprintf("no newsletter %q", trimForMessage(list))}
	}
	sub, err := s.opts.Store.SaveSubscriber(ctx, store.Subscriber{Email: clean, Name: name}, s.opts.Now())
	if err != nil {
		return store.Subscriber{}, false, err
	}
	if sub.Lists[list] == store.Confirmed {
		return sub, false, nil
	}
	if err := s.opts.Store.SetListStatus(ctx, sub.ID, list, store.Confirmed, s.opts.Now()); err != nil {
		return store.Subscriber{}, false, err
	}
	sub, err = s.opts.Store.Subscriber(ctx, sub.ID)
	return sub, true, err
}

// Remove unsubscribes an address from a list; the subscriber and their
// other lists stay.
func (s *Service) Remove(ctx context.Context, list, email string) error {
	if _, ok := s.list(list); !ok {
		return &article.FieldError{Field: "list", Reason: fmt.Sprintf("no newsletter %q", trimForMessage(list))}
	}
	sub, err := s.opts.Store.SubscriberByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		// Said to the admin who typed it; not found is never logged.
		return fmt.Errorf("%s is not on %s: %w", email, list, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if _, ok := sub.Lists[list]; !ok {
		return fmt.Errorf("%s is not on %s: %w", email, list, store.ErrNotFound)
	}
	return s.opts.Store.SetListStatus(ctx, sub.ID, list, store.Unsubscribed, s.opts.Now())
}

// Members lists a list's subscribers with a status, by address.
func (s *Service) Members(ctx context.Context, list string, status store.SubscriptionStatus) ([]store.Subscriber, error) {
	if _, ok := s.list(list); !ok {
		return nil, &article.FieldError{Field: "list", Reason: fmt.Sprintf("no newsletter %q", trimForMessage(list))}
	}
	return s.opts.Store.ListSubscribers(ctx, list, status)
}

// Erase deletes every trace of a person: subscriber, subscriptions,
// preferences and queued mail.
func (s *Service) Erase(ctx context.Context, email string) error {
	return s.opts.Store.EraseSubscriber(ctx, email)
}
