package main

import (
	"context"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/web"
)

// bounceWebhooks builds the providers' webhooks at
// POST /webhooks/bounces/{provider} (bounces.ses, .mailgun, .postmark,
// .sendgrid), which hand their events to the one bounce policy; nil when
// none has keys, so every provider answers 404. The token of the
// providers that pass the envelope sender back is found after
// mail.return_path's local part.
func (a *app) bounceWebhooks(ctx context.Context) (web.BounceWebhooks, error) {
	b := a.cfg.Bounces
	o := bounce.WebhookOptions{
		SESTopicARNs:      b.SES.TopicARNs,
		MailgunSigningKey: b.Mailgun.SigningKey,
		PostmarkUsername:  b.Postmark.Username,
		PostmarkPassword:  b.Postmark.Password,
		SendGridPublicKey: b.SendGrid.PublicKey,
		Now:               a.now,
		Logger:            a.logger,
	}
	if !o.Any() {
		return nil, nil
	}
	kit, err := a.bounceKit(ctx)
	if err != nil {
		return nil, err
	}
	o.ReturnPrefix = kit.parseOptions().ReturnPrefix
	hooks, err := bounce.NewWebhooks(o, kit.policy)
	if err != nil {
		return nil, err
	}
	return hooks, nil
}
