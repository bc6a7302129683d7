package main

import "fmt"

// plural writes n with its noun in the number it takes: "1 delivery",
// "2 deliveries", "0 articles". The CLI speaks English, whose nouns have a
// plural; the words are given both ways, as English plurals are irregular.
func plural(n int, one, many string) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
