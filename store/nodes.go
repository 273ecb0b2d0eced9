package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/parkd/parkd/parking"
)

// Lots shared by several FreeSWITCH nodes (issue 17 part 3): one parkd per
// node, all on one PostgreSQL database (migrations/postgres/0010_nodes.sql).
// Each parkd's DB has Node set: its connections carry the node as the
// run-time setting parkd.node, which the node columns default to, so every
// row it writes names its node, and Occupied loads only its own calls. The
// occupancy's key, (domain, lot, slot) across every node, is the slot
// claim: ClaimSlot writes the row before the call is answered, and the
// database lets exactly one of two nodes racing for a slot have it.

// HopTTL is how long a cross-node retrieve's token may wait to be used.
const HopTTL = 30 * time.Second

// sqlClaimSlot writes the occupancy row of a call being parked. A row of
// this node for the slot is stale: this parkd's own slot table, which
// found the slot free, has the last word on its own calls, and the row's
// deletion may still be queued in its journal. So it is taken over; a
// row of another node is left alone, and no row is changed.
const sqlClaimSlot = `INSERT INTO occupancy
	(lot, slot, call_uuid, caller_number, caller_name, parker, parked_at, deadline, parker_domain, recall_attempts, dialog, domain, node)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (domain, lot, slot) DO UPDATE SET
		call_uuid = excluded.call_uuid, caller_number = excluded.caller_number, caller_name = excluded.caller_name,
		parker = excluded.parker, parked_at = excluded.parked_at, deadline = excluded.deadline,
		parker_domain = excluded.parker_domain, recall_attempts = excluded.recall_attempts, dialog = excluded.dialog
	WHERE occupancy.node = excluded.node`

// ClaimSlot implements parking.SlotClaims: it takes o's slot for o.Call on
// db's node, or returns an error wrapping parking.ErrSlotTaken when
// another node's call holds it.
func (db *DB) ClaimSlot(ctx context.Context, o parking.Occupant) (rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return fmt.Errorf("claim slot: %w", errNotOpen)
	}
	res, err := db.w.ExecContext(ctx, sqlClaimSlot, o.Lot, o.Slot, string(o.Call), o.Caller.Number, o.Caller.Name, o.Parker,
		formatTime(o.ParkedAt), formatTime(o.Deadline), o.ParkerDomain, o.Attempts, o.Dialog, o.Domain, db.Node)
	if db.eng.isUnique(err) {
		// The call has a row already (call_uuid is unique): in this
		// very slot, it is this claim's own.
		var lot, domain string
		var slot int
		qerr := db.w.QueryRowContext(ctx, `SELECT domain, lot, slot FROM occupancy WHERE call_uuid = ?`, string(o.Call)).Scan(&domain, &lot, &slot)
		if qerr == nil && domain == o.Domain && lot == o.Lot && slot == o.Slot {
			return nil
		}
		return fmt.Errorf("claim slot %s/%d: call %s holds %s/%d already: %w", o.Lot, o.Slot, o.Call, lot, slot, parking.ErrAlreadyParked)
	}
	if err != nil {
		return fmt.Errorf("claim slot %s/%d: %w", o.Lot, o.Slot, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("claim slot %s/%d: %w", o.Lot, o.Slot, err)
	} else if n == 0 {
		return fmt.Errorf("claim slot %s/%d: held on another node: %w", o.Lot, o.Slot, parking.ErrSlotTaken)
	}
	return nil
}

// Unclaim implements parking.SlotClaims: it deletes call's occupancy row
// if db's node holds it.
func (db *DB) Unclaim(ctx context.Context, call parking.CallID) (rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return fmt.Errorf("unclaim: %w", errNotOpen)
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM occupancy WHERE call_uuid = ? AND node = ?`, string(call), db.Node); err != nil {
		return fmt.Errorf("unclaim %s: %w", call, err)
	}
	return nil
}

// RemoteCall implements parking.Nodes: the call another node has parked
// in domain's lot at slot, or the lot's longest-waiting one for slot 0.
func (db *DB) RemoteCall(ctx context.Context, domain, lot string, slot int) (rc parking.RemoteCall, ok bool, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return rc, false, fmt.Errorf("remote call: %w", errNotOpen)
	}
	var parkedAt string
	err := db.r.QueryRowContext(ctx, `SELECT node, call_uuid, slot, parked_at FROM occupancy
		WHERE domain = ? AND lot = ? AND node <> ? AND (slot = ? OR ? = 0)
		ORDER BY parked_at, slot LIMIT 1`, domain, lot, db.Node, slot, slot).Scan(&rc.Node, &rc.Call, &rc.Slot, &parkedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return rc, false, nil
	}
	if err != nil {
		return rc, false, fmt.Errorf("remote call %s/%d: %w", lot, slot, err)
	}
	rc.Domain, rc.Lot = domain, lot
	if rc.ParkedAt, err = parseTime(parkedAt); err != nil {
		return rc, false, fmt.Errorf("remote call %s/%d: %w", lot, slot, err)
	}
	return rc, true, nil
}

// IssueHop implements parking.Nodes: it stores a new random token for h,
// good for HopTTL, and clears the tokens that expired unused.
func (db *DB) IssueHop(ctx context.Context, h parking.Hop) (_ parking.Hop, rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return h, fmt.Errorf("issue hop: %w", errNotOpen)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return h, fmt.Errorf("issue hop: %w", err)
	}
	now := time.Now()
	h.Token, h.Expires, h.From = hex.EncodeToString(b[:]), now.Add(HopTTL), db.Node
	if _, err := db.w.ExecContext(ctx, `DELETE FROM hop_tokens WHERE expires_at < ?`, formatTime(now)); err != nil {
		return h, fmt.Errorf("issue hop: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO hop_tokens (token, call_uuid, domain, lot, slot, to_node, from_node, retriever, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, h.Token, string(h.Call), h.Domain, h.Lot, h.Slot, h.To, h.From, h.Retriever, formatTime(h.Expires)); err != nil {
		return h, fmt.Errorf("issue hop: %w", err)
	}
	return h, nil
}

// ConsumeHop implements parking.Nodes: it deletes token, addressed to
// db's node, and returns its hop if it had not expired. Deleting is the
// consuming: of two uses of one token, one finds it.
func (db *DB) ConsumeHop(ctx context.Context, token string) (h parking.Hop, rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return h, fmt.Errorf("consume hop: %w", errNotOpen)
	}
	if !parking.ValidHopToken(token) {
		return h, fmt.Errorf("%w: malformed token", parking.ErrHopRefused)
	}
	var expires string
	err := db.w.QueryRowContext(ctx, `DELETE FROM hop_tokens WHERE token = ? AND to_node = ?
		RETURNING call_uuid, domain, lot, slot, from_node, to_node, retriever, expires_at`, token, db.Node).
		Scan(&h.Call, &h.Domain, &h.Lot, &h.Slot, &h.From, &h.To, &h.Retriever, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return parking.Hop{}, fmt.Errorf("%w: unknown or used token, or for another node", parking.ErrHopRefused)
	}
	if err != nil {
		return parking.Hop{}, fmt.Errorf("consume hop: %w", err)
	}
	if h.Expires, err = parseTime(expires); err != nil {
		return parking.Hop{}, fmt.Errorf("consume hop: %w", err)
	}
	if !time.Now().Before(h.Expires) {
		return parking.Hop{}, fmt.Errorf("%w: token expired at %s", parking.ErrHopRefused, expires)
	}
	h.Token = token
	return h, nil
}

// daemonLockID is the advisory lock LockDaemon takes: one per database,
// or, with nodes, one per node, so that each node's parkd runs once while
// the nodes share the database.
func (db *DB) daemonLockID() int32 { return daemonLockID(db.Node) }

// daemonLockID is node's daemon lock, or the database's for "": a lone
// parkd holds it exclusively (LockDaemon), the parkd of a pair shared
// (OpenLease).
func daemonLockID(node string) int32 {
	if node == "" {
		return lockDaemon
	}
	h := fnv.New32a()
	h.Write([]byte(node))
	return int32(1000 + h.Sum32()%(1<<30))
}

// Beat records that db's node's parkd is alive now.
func (db *DB) Beat(ctx context.Context, now time.Time) (rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return fmt.Errorf("beat: %w", errNotOpen)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO node_beats (node, seen_at) VALUES (?, ?)
		ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at`, db.Node, formatTime(now)); err != nil {
		return fmt.Errorf("beat: %w", err)
	}
	return nil
}

// SilentNodes lists the other nodes that hold parked calls and whose parkd
// has not beaten since before.
func (db *DB) SilentNodes(ctx context.Context, before time.Time) (_ []string, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("silent nodes: %w", errNotOpen)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT o.node FROM occupancy o LEFT JOIN node_beats b ON b.node = o.node
		WHERE o.node <> ? AND o.node <> '' AND (b.seen_at IS NULL OR b.seen_at < ?) ORDER BY o.node`, db.Node, formatTime(before))
	if err != nil {
		return nil, fmt.Errorf("silent nodes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("silent nodes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// LoseNode records every call parked on node as lost, with reason, and
// frees their slots, in one transaction. Taking the calls' occupancy rows
// out is the guard: of several parkd recording one node's loss at once,
// one finds the rows and the others none, so each call gets one lost row.
// The rows carry node, not db's. It returns the calls it recorded.
// PostgreSQL only.
func (db *DB) LoseNode(ctx context.Context, node, reason string, now time.Time) (_ []parking.Occupant, rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return nil, fmt.Errorf("lose node: %w", errNotOpen)
	}
	if db.Driver != Postgres {
		return nil, fmt.Errorf("lose node %s: nodes need PostgreSQL", node)
	}
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("lose node %s: begin: %w", node, err)
	}
	defer tx.Rollback()
	// The rows written below default to the lost node, in this
	// transaction only, and so do their webhook payloads.
	tx.node = node
	if _, err := tx.ExecContext(ctx, `SELECT set_config('parkd.node', ?, true)`, node); err != nil {
		return nil, fmt.Errorf("lose node %s: %w", node, err)
	}
	// Calls whose parked row died with the node's parkd (queued, not
	// committed: see RecordUnrecordedParks) get it before their lost row.
	unrecorded, err := unrecordedCalls(ctx, tx, node)
	if err != nil {
		return nil, fmt.Errorf("lose node %s: %w", node, err)
	}
	rows, err := tx.QueryContext(ctx, `DELETE FROM occupancy WHERE node = ?
		RETURNING `+occupantColumns, node)
	if err != nil {
		return nil, fmt.Errorf("lose node %s: %w", node, err)
	}
	occ, err := scanOccupants(rows)
	if err != nil {
		return nil, fmt.Errorf("lose node %s: %w", node, err)
	}
	var written []HistoryRow
	record := func(t parking.Transition) error {
		t = db.eng.fit(t)
		id, err := db.apply(ctx, tx, t)
		if err != nil {
			return fmt.Errorf("lose node %s: %w", node, err)
		}
		row := rowOf(id, t)
		row.Node = node
		written = append(written, row)
		return nil
	}
	for _, o := range occ {
		if unrecorded[o.Call] {
			p := parkedFromClaim(o)
			p.Occupancy = nil // deleted above: the lost row follows at once
			if err := record(p); err != nil {
				return nil, err
			}
		}
		if err := record(parking.Transition{At: now, Event: parking.EventLost, Lot: o.Lot, Domain: o.Domain, Slot: o.Slot, Call: o.Call,
			Caller: o.Caller, Parker: o.Parker, Reason: reason, Wait: o.Waited(now).Round(time.Millisecond)}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("lose node %s: commit: %w", node, err)
	}
	db.tellCommitted(written)
	return occ, nil
}

// MoveClaim implements parking.SlotClaims: call's occupancy row moves to
// domain's lot and slot, or an error wrapping parking.ErrSlotTaken says
// another call holds it. A call without a row yet (its park's row still
// queued) has nothing to move.
func (db *DB) MoveClaim(ctx context.Context, call parking.CallID, domain, lot string, slot int) (rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return fmt.Errorf("move claim: %w", errNotOpen)
	}
	_, err := db.w.ExecContext(ctx, `UPDATE occupancy SET domain = ?, lot = ?, slot = ? WHERE call_uuid = ?`, domain, lot, slot, string(call))
	if db.eng.isUnique(err) {
		return fmt.Errorf("move claim %s/%d: %w", lot, slot, parking.ErrSlotTaken)
	}
	if err != nil {
		return fmt.Errorf("move claim %s/%d: %w", lot, slot, err)
	}
	return nil
}

// sqlUnrecordedParks selects the calls a node holds whose parked row is
// missing: the call has no history row since it was parked. It locks
// them: a survivor's LoseNode of the same node waits for the rows to be
// written, and if LoseNode came first, the calls it deleted are skipped
// rather than parked again.
const sqlUnrecordedParks = `SELECT ` + occupantColumns + ` FROM occupancy o
	WHERE node = ? AND ` + sqlNoRowSinceParked + `
	ORDER BY parked_at, slot
	FOR UPDATE OF o`

// sqlNoRowSinceParked holds for an occupancy row o whose call has no
// history row since it was parked: its parked row was never committed.
const sqlNoRowSinceParked = `NOT EXISTS (SELECT 1 FROM history h WHERE h.call_uuid = o.call_uuid AND h.at >= o.parked_at)`

// RecordUnrecordedParks writes the parked row of every call db's node
// holds that has none, and returns those calls. A parkd of a node claims
// a slot at once (ClaimSlot) but queues the parked row for its journal's
// next commit (a few milliseconds later): one that dies in between
// (SIGKILL, its host gone, cut off from PostgreSQL) leaves a claimed,
// parked call without its row. The parkd that takes the node's calls over
// (its standby, or itself restarted) calls this before it adopts them, so
// every parked call's history starts with parked. The row is at the call's
// parked_at. PostgreSQL, with a node, only; else it does nothing.
func (db *DB) RecordUnrecordedParks(ctx context.Context) (_ []parking.Occupant, rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return nil, fmt.Errorf("record unrecorded parks: %w", errNotOpen)
	}
	if db.Driver != Postgres || db.Node == "" {
		return nil, nil
	}
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record unrecorded parks: begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, sqlUnrecordedParks, db.Node)
	if err != nil {
		return nil, fmt.Errorf("record unrecorded parks: %w", err)
	}
	occ, err := scanOccupants(rows)
	if err != nil {
		return nil, fmt.Errorf("record unrecorded parks: %w", err)
	}
	var written []HistoryRow
	for _, o := range occ {
		t := db.eng.fit(parkedFromClaim(o))
		id, err := db.apply(ctx, tx, t)
		if err != nil {
			return nil, fmt.Errorf("record unrecorded parks: %s: %w", o.Call, err)
		}
		written = append(written, rowOf(id, t))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record unrecorded parks: commit: %w", err)
	}
	db.tellCommitted(written)
	return occ, nil
}

// unrecordedCalls is the calls node holds whose parked row is missing.
func unrecordedCalls(ctx context.Context, tx *txn, node string) (map[parking.CallID]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT o.call_uuid FROM occupancy o WHERE node = ? AND `+sqlNoRowSinceParked, node)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	calls := map[parking.CallID]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		calls[parking.CallID(c)] = true
	}
	return calls, rows.Err()
}

// parkedFromClaim is the parked row of a call whose slot claim o is all
// that was written of its park: at the call's parked_at, with o as its
// occupancy.
func parkedFromClaim(o parking.Occupant) parking.Transition {
	return parking.Transition{At: o.ParkedAt, Event: parking.EventParked, Lot: o.Lot, Domain: o.Domain, Slot: o.Slot,
		Call: o.Call, Caller: o.Caller, Parker: o.Parker, Occupancy: &o}
}
