package workflows

import "sync"

// maxCached bounds each cache of pure results (decoded definitions, their checks,
// compiled CEL programs): a server that reloads definitions for months keeps at most this
// many of each.
const maxCached = 512

// pureCache caches the results of a pure function by key, at most maxCached of them: when
// full it starts again empty, so memory stays bounded and a result is at worst computed
// again.
type pureCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

func (c *pureCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *pureCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}

// len is how many results the cache holds.
func (c *pureCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
