package esl

import "github.com/google/uuid"

// NewUUID returns a random (version 4) UUID in FreeSWITCH's canonical
// lower-case form, for Event-UUID, Job-UUID and origination_uuid values
// parkd chooses. It is the project's one UUID generator.
func NewUUID() string { return uuid.NewString() }
