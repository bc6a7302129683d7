package config

import (
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Mask replaces a secret that is set when the config is shown.
const Mask = "********"

// secretParam names the DSN parameters whose value is a secret: password
// and sslpassword (libpq, pgx), and any other name ending in password,
// passwd, secret or token.
const secretParam = `[a-z0-9_]*(?:password|passwd|secret|token)`

// kvPasswordRE finds a secret of a key=value PostgreSQL DSN
// ("host=db password='s e c' sslpassword=k dbname=bantin").
var kvPasswordRE = regexp.MustCompile(`(?i)(\b` + secretParam + `\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*)`)

// secretParamRE matches a whole parameter name that is a secret.
var secretParamRE = regexp.MustCompile(`(?i)^` + secretParam + `$`)

// Masked returns a copy of c whose secrets are replaced by Mask:
// server.admin_token, mail.smtp.password and the passwords in storage.dsn
// (password, sslpassword and the like, in the URL's user part or query or
// in key=value form).
// A secret that is not set stays empty, so the dump still shows it is unset.
func (c *Config) Masked() *Config {
	m := *c
	m.Server.TrustedProxies = slices.Clone(c.Server.TrustedProxies)
	m.Feeds.WebSubHubs = slices.Clone(c.Feeds.WebSubHubs)
	m.Subscribe.AllowedOrigins = slices.Clone(c.Subscribe.AllowedOrigins)
	m.Categories = slices.Clone(c.Categories)
	m.Ingest.Sources = slices.Clone(c.Ingest.Sources)
	m.Newsletters = slices.Clone(c.Newsletters)
	for i := range m.Newsletters {
		m.Newsletters[i].Categories = slices.Clone(m.Newsletters[i].Categories)
	}
	if m.Server.AdminToken != "" {
		m.Server.AdminToken = Mask
	}
	if m.Mail.SMTP.Password != "" {
		m.Mail.SMTP.Password = Mask
	}
	m.Bounces.SES.TopicARNs = slices.Clone(c.Bounces.SES.TopicARNs)
	for _, secret := range []*string{&m.Bounces.IMAP.Password, &m.Bounces.Mailgun.SigningKey, &m.Bounces.Postmark.Password} {
		if *secret != "" {
			*secret = Mask
		}
	}
	m.Storage.DSN = maskDSN(m.Storage.DSN)
	return &m
}

// maskDSN hides the secrets of a URL DSN (postgres://user:pw@host/db, or
// ?password=pw&sslpassword=k) or of a key=value DSN; a file path is
// returned as it is.
func maskDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return kvPasswordRE.ReplaceAllString(dsn, "${1}"+Mask)
	}
	if _, has := u.User.Password(); has {
		// url.URL.String would escape the mask's '*' characters, so a
		// placeholder goes in and is swapped afterwards.
		const placeholder = "bantinmaskedpassword"
		u.User = url.UserPassword(u.User.Username(), placeholder)
		dsn = strings.Replace(u.String(), ":"+placeholder+"@", ":"+Mask+"@", 1)
	}
	head, query, ok := strings.Cut(dsn, "?")
	if !ok {
		return dsn
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	query = maskQuery(query)
	if hasFragment {
		query += "#" + fragment
	}
	return head + "?" + query
}

// maskQuery masks the values of the secret parameters of a URL query.
// Names are compared decoded, as the driver reads them: ?ssl%70assword=
// is sslpassword too.
func maskQuery(query string) string {
	params := strings.Split(query, "&")
	for i, p := range params {
		name, _, hasValue := strings.Cut(p, "=")
		decoded, err := url.QueryUnescape(name)
		if hasValue && (err != nil || secretParamRE.MatchString(decoded)) {
			params[i] = name + "=" + Mask
		}
	}
	return strings.Join(params, "&")
}

// Print writes the effective configuration as YAML, secrets masked, in the
// order of the keys in the example file. The output loads back as a config
// file (with the masked secrets as their values).
func (c *Config) Print(w io.Writer) error {
	node := toNode(reflect.ValueOf(*c.Masked()))
	layers := "defaults and environment, no file"
	if c.Path != "" {
		layers = "defaults, " + c.Path + ", environment"
	}
	// Say where the relative paths lead, as they may not lead where the
	// command was run.
	paths := "relative paths (storage.dsn, mail.file_dir, ingest.watch_dir, templates_dir, mail.dkim.key_file and its extra_keys) are from the working directory"
	if c.BaseDir != "" {
		_, why := BaseDir(c.Path)
		paths = "relative paths in the file are resolved from " + c.BaseDir + " (" + why + "), shown resolved"
	}
	if _, err := fmt.Fprintf(w, "# effective configuration (%s); secrets masked\n# %s\n", layers, paths); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return nil
}

// toNode builds the YAML of v by the same yaml tags the strict pass reads,
// writing durations as the admin would ("168h", not 604800000000000).
func toNode(v reflect.Value) *yaml.Node {
	t := v.Type()
	switch {
	case t == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: formatDuration(time.Duration(v.Int()))}
	case t == byteSizeType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ByteSize(v.Int()).String()}
	case t.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range reflect.VisibleFields(t) {
			name := yamlName(f)
			if name == "" {
				continue
			}
			n.Content = append(n.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: name},
				toNode(v.FieldByIndex(f.Index)))
		}
		return n
	case t.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if t.Elem().Kind() != reflect.Struct || v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, toNode(v.Index(i)))
		}
		return n
	case t.Kind() == reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
	case t.Kind() == reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case t.Kind() == reflect.Int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case t.Kind() == reflect.Float64:
		// No tag: "0" reads back as an int, which a float key accepts.
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v.Interface())}
}

// formatDuration drops the zero units time.Duration.String adds:
// 168h0m0s → 168h, 30m0s → 30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
