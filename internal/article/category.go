package article

// CategoryOf reads one category name as Normalize does: its title and its
// slug ("" when it has none). An importer uses it to compare the
// categories of an input with those stored before any costly work.
func (n *Normalizer) CategoryOf(name string) Category {
	title, slug := n.category(name)
	return Category{Slug: slug, Title: title}
}

// knownCategories maps the admin's categories by the slug of their title
// ("Kinh tế", "kinh tế" → kinh-te) and by their own slug, which wins
// where the two meet: an article's "Kinh tế" is then the admin's category
// even when its slug is not kinh-te (say kt), and an article's "kt" gets
// the admin's title. A category without a title only keeps its slug.
func (n *Normalizer) knownCategories(cats []Category) map[string]Category {
	// The admin's title is text, kept as written; it is matched as an
	// article's category name is read.
	known := map[string]Category{}
	for _, c := range cats {
		if c.Title = oneLine(cleanText(c.Title)); c.Slug != "" && c.Title != "" {
			if _, slug := n.category(c.Title); slug != "" {
				known[slug] = c
			}
		}
	}
	for _, c := range cats {
		if c.Title = oneLine(cleanText(c.Title)); c.Slug != "" && c.Title != "" {
			known[c.Slug] = c
		}
	}
	return known
}
