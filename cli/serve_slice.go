package cli

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/internal/schedslice"
)

// askForShortSlices gives parkd's threads short scheduler slices, so that a
// park's wake-ups take a busy core at once (internal/schedslice):
// PARKD_SCHED_SLICE sets the slice or turns it off. A kernel without slices
// (before Linux 6.12) is no error: parkd runs with its default.
func askForShortSlices(logger zerolog.Logger) error {
	slice, err := schedslice.FromEnv()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	n, err := schedslice.Apply(slice)
	switch {
	case errors.Is(err, schedslice.ErrUnsupported):
		logger.Info().Err(err).Msg("threads run with the kernel's scheduler slice")
	case err != nil:
		logger.Warn().Err(err).Int("threads", n).Msg("short scheduler slices not set on every thread")
	case slice > 0:
		logger.Debug().Dur("slice", slice).Int("threads", n).Msg("short scheduler slices asked for")
	}
	return nil
}
