package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parkd/parkd/parking"
)

// The nodes' busy lamps (nodes.go): each parkd sends its slots' lamp
// changes on the PostgreSQL channel LampChannel, and listens there for the
// other nodes', so that the phones of every node show every slot of the
// shared lots.

// LampChannel is the PostgreSQL notification channel of lamp changes.
const LampChannel = "parkd_lamps"

// NotifyLamp sends payload on LampChannel.
func (db *DB) NotifyLamp(ctx context.Context, payload string) (rerr error) {
	defer db.damaged(&rerr)
	if db.w == nil {
		return fmt.Errorf("notify lamp: %w", errNotOpen)
	}
	if db.Driver != Postgres {
		return fmt.Errorf("notify lamp: nodes need PostgreSQL")
	}
	if _, err := db.w.ExecContext(ctx, `SELECT pg_notify(?, ?)`, LampChannel, payload); err != nil {
		return fmt.Errorf("notify lamp: %w", err)
	}
	return nil
}

// ListenLamps listens on LampChannel on a connection of its own, calls
// listening once it listens, then got with every payload, until ctx ends
// or the connection fails (the error is returned; the caller reconnects).
func (db *DB) ListenLamps(ctx context.Context, listening func(), got func(payload string)) error {
	cfg, err := db.pgConfig()
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return db.pgError("listen", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+LampChannel); err != nil {
		return db.pgError("listen", err)
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return db.pgError("listen", err)
		}
		got(n.Payload)
	}
}

// RemoteParked is a call another node has parked, for its lamp.
type RemoteParked struct {
	Node string
	parking.Occupant
}

// RemoteParkedCalls lists the calls the other nodes hold, by the
// occupancy: the lamps a parkd shows for them when it (re)starts
// listening, and the board's view of them.
func (db *DB) RemoteParkedCalls(ctx context.Context) (_ []RemoteParked, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("remote calls: %w", errNotOpen)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+occupantColumns+`, node
		FROM occupancy WHERE node <> ? ORDER BY node, domain, lot, slot`, db.Node)
	if err != nil {
		return nil, fmt.Errorf("remote calls: %w", err)
	}
	defer rows.Close()
	var out []RemoteParked
	for rows.Next() {
		var r RemoteParked
		if r.Occupant, err = scanOccupant(rows, &r.Node); err != nil {
			return nil, fmt.Errorf("remote calls: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
