package web

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// session is a logged-in user on the board, kept in memory: a restart logs
// everyone out, which a reception desk survives.
type session struct {
	user    string
	csrf    string
	created time.Time
	seen    time.Time
}

type sessions struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*session // by cookie value
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

// start opens a session for user and returns its id.
func (ss *sessions) start(user string) (string, *session) {
	now := ss.now()
	id := randomHex(32)
	sess := &session{user: user, csrf: randomHex(32), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.pruneLocked(now)
	}
	ss.m[id] = sess
	return id, sess
}

// get returns the live session id names and marks it used, or nil. An
// expired session is forgotten.
func (ss *sessions) get(id string) *session {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sess := ss.m[id]
	if sess == nil {
		return nil
	}
	if expired(sess, now) {
		delete(ss.m, id)
		return nil
	}
	sess.seen = now
	c := *sess
	return &c
}

func (ss *sessions) end(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

func (ss *sessions) pruneLocked(now time.Time) {
	for id, sess := range ss.m {
		if expired(sess, now) {
			delete(ss.m, id)
		}
	}
}

func expired(sess *session, now time.Time) bool {
	return now.Sub(sess.seen) >= SessionIdle || now.Sub(sess.created) >= SessionMax
}

// randomHex is n random bytes in hex. crypto/rand.Read does not fail.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
