package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/locale"
	"github.com/bantin/bantin/internal/store"
)

func (s *Server) words() locale.Words { return locale.For(s.opts.Site.Language) }

func (s *Server) page(title string) pageData {
	return pageData{Site: s.opts.Site, Words: locale.For(s.opts.Site.Language), Title: title}
}

// articlePage shows one published article. A scheduled article is not
// found until its time, whoever asks.
func (s *Server) articlePage(w http.ResponseWriter, r *http.Request) error {
	a, err := s.opts.Store.ArticleBySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	if a.ScheduledAt(s.opts.Now()) {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	loc := s.opts.Site.Location
	a.PublishedAt, a.UpdatedAt = a.PublishedAt.In(loc), a.UpdatedAt.In(loc)
	data := s.page(a.Title)
	data.Description = a.Summary
	data.Article = &a
	data.Published = locale.DateTime(a.PublishedAt.In(loc), s.opts.Site.Language)
	if s.opts.Feeds != nil {
		// The site-wide feeds, so that a reader given an article's address
		// finds them too.
		for _, k := range feed.Kinds {
			data.Feeds = append(data.Feeds, feedLink{Title: s.opts.Site.Title + " (" + k.Name() + ")",
				Type: strings.TrimSuffix(k.ContentType(), "; charset=utf-8"), URL: s.opts.Site.BaseURL + feed.Path("", 1, k)})
		}
	}
	if a.UpdatedAt.Sub(a.PublishedAt) >= 60e9 {
		data.Updated = locale.DateTime(a.UpdatedAt.In(loc), s.opts.Site.Language)
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Last-Modified", a.UpdatedAt.UTC().Format(http.TimeFormat))
	return s.writePage(w, r, http.StatusOK, cachePublic, "article.html", data)
}

// errorPage answers a failed page request with a page in the site's
// language, not JSON; the Error's own message is for logs and the API.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, e *Error) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	words := s.words()
	name, data := "notfound.html", s.page(words.NotFound)
	if e.Status != http.StatusNotFound {
		title, text := pageError(e.Status)
		name, data = "error.html", s.page(words.T(title))
		data.Description = words.T(text)
	}
	if err := s.writePage(w, r, e.Status, cachePrivate, name, data); err != nil {
		s.opts.Logger.Error("error page", "status", e.Status, "err", err)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(e.Status)
		_, _ = w.Write([]byte("<!doctype html><title>" + strconv.Itoa(e.Status) + "</title><p>" + strconv.Itoa(e.Status) + "</p>\n"))
	}
}

// homeFeeds is the feed service's choice of feeds for the home page
// (feed.Service.HomeScopes): the site-wide ones and the busiest
// categories, at most limits.home_categories.
type homeFeeds interface {
	HomeScopes(ctx context.Context) ([]feed.Scope, error)
}

// homeArticles is how many of the newest articles the home page lists.
const homeArticles = 30

// homePage lists the newest articles and links the feeds, with
// autodiscovery links so that a reader given the site's address finds them:
// the site-wide feeds and those of the busiest categories
// (limits.home_categories), so that a page of thousands of made-up
// categories stays a page; the OPML lists every feed.
func (s *Server) homePage(w http.ResponseWriter, r *http.Request) error {
	data := s.page("")
	data.Description = s.opts.Site.Description
	list, err := s.opts.Store.Articles(r.Context(), store.ArticleQuery{Now: s.opts.Now(), Limit: homeArticles})
	if err != nil {
		return err
	}
	loc := s.opts.Site.Location
	for _, a := range list {
		item := listedArticle{Title: a.Title, Link: "/articles/" + url.PathEscape(a.Slug), Summary: a.Summary,
			Date: locale.DateTime(a.PublishedAt.In(loc), s.opts.Site.Language), Author: a.Author, Categories: a.Categories}
		if a.Image != nil && a.Image.URL != "" {
			item.Image, item.ImageAlt = a.Image.URL, a.Image.Caption
		}
		data.Latest = append(data.Latest, item)
	}
	if s.opts.Feeds != nil {
		list := s.opts.Feeds.Scopes
		if h, ok := s.opts.Feeds.(homeFeeds); ok {
			list = h.HomeScopes
		}
		scopes, err := list(r.Context())
		if err != nil {
			return err
		}
		for _, sc := range scopes {
			slug, title := "", s.opts.Site.Title
			if sc.Category != nil {
				slug, title = sc.Category.Slug, s.opts.Site.Title+" — "+sc.Category.Title
			}
			for _, k := range feed.Kinds {
				data.Feeds = append(data.Feeds, feedLink{Title: title + " (" + k.Name() + ")",
					Type: strings.TrimSuffix(k.ContentType(), "; charset=utf-8"), URL: s.opts.Site.BaseURL + feed.Path(slug, 1, k)})
			}
		}
	}
	if s.opts.Subscriptions != nil {
		data.Newsletters = s.listChoices(func(string) bool { return len(s.opts.Subscriptions.Lists()) == 1 })
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	return s.writePage(w, r, http.StatusOK, cachePublic, "home.html", data)
}
