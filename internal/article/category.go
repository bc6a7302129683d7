package article

// CategoryOf reads one category name as Normalize does: its title and its
// slug ("" when it has none). An importer uses it to compare the
// categories of an input with those stored before any costly work.
func (n *Normalizer) CategoryOf(name string) Category {
	title, slug := n.category(name)
	return Category{Slug: slug, Title: title}
}
