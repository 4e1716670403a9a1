package app

import "sync"

// keyedMutex serialises work on one key (a saga id) inside this process, so
// a redelivery that overlaps a slow first delivery cannot mint a second API
// key. Across replicas the ledger and the idempotent writes keep the outcome
// right.
type keyedMutex struct {
	mu   sync.Mutex
	keys map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock blocks until key is free and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.keys == nil {
		k.keys = map[string]*keyLock{}
	}
	l := k.keys[key]
	if l == nil {
		l = &keyLock{}
		k.keys[key] = l
	}
	l.refs++
	k.mu.Unlock()

	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.keys, key)
		}
		k.mu.Unlock()
	}
}
