// hello.go - a Go program: its runtime allocates on its own, never through malloc.
package main

import (
	"fmt"
	"os"
)

func main() {
	var b []byte
	for i := 0; i < 100000; i++ {
		b = append(b, 'x') // slice growth the preload cannot see
	}
	fmt.Println("go appended", len(b))
	os.Exit(3)
}
