package conf_test

import (
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/internal/passhash"
)

func TestOutsideValidation(t *testing.T) {
	hash, err := passhash.Hash("4711")
	if err != nil {
		t.Fatal(err)
	}
	good := `[[lot]]
name = "main"
slots = "701-720"
[lot.outside]
number = "+15550199"
pin_hash = "` + hash + `"
`
	c, err := conf.Parse([]byte(good), "parkd.toml")
	if err != nil {
		t.Fatalf("good outside table refused: %v", err)
	}
	o := c.Lots[0].Outside
	if !o.Enabled() || o.Context != "public" || !o.Slot || o.Lockout.Tries != 3 || o.Lockout.LotFailures != 20 {
		t.Fatalf("defaults not applied: %+v", o)
	}

	tests := []struct {
		name, toml, want string
	}{
		{"bad number", "[[lot]]\nname = \"main\"\n[lot.outside]\nnumber = \"15550199;x\"\npin_hash = \"" + hash + "\"\n",
			"lot[0].outside.number"},
		{"no hash", "[[lot]]\nname = \"main\"\n[lot.outside]\nnumber = \"+15550199\"\n", "lot[0].outside.pin_hash: must be set"},
		{"not a hash", "[[lot]]\nname = \"main\"\n[lot.outside]\nnumber = \"+15550199\"\npin_hash = \"4711\"\n",
			"lot[0].outside.pin_hash: not an argon2id or bcrypt hash"},
		{"hash without number", "[[lot]]\nname = \"main\"\n[lot.outside]\npin_hash = \"" + hash + "\"\n", "lot[0].outside.number"},
		{"prompt with a space", "[[lot]]\nname = \"main\"\n[lot.outside]\nnumber = \"+15550199\"\npin_hash = \"" + hash +
			"\"\n[lot.outside.prompts]\npin = \"a b.wav\"\n", "lot[0].outside.prompts.pin"},
		{"prompt with a variable", "[[lot]]\nname = \"main\"\n[lot.outside]\nnumber = \"+15550199\"\npin_hash = \"" + hash +
			"\"\n[lot.outside.prompts]\nslot = \"${x}\"\n", "lot[0].outside.prompts.slot"},
		{"zero tries", "[[lot]]\nname = \"main\"\n[lot.outside]\nnumber = \"+15550199\"\npin_hash = \"" + hash +
			"\"\n[lot.outside.lockout]\ntries = 0\n", "lot[0].outside.lockout.tries"},
		{"same number twice", "[[lot]]\nname = \"a\"\nslots = \"701-710\"\n[lot.outside]\nnumber = \"+15550199\"\npin_hash = \"" + hash +
			"\"\n[[lot]]\nname = \"b\"\nslots = \"711-720\"\npark_code = \"*80\"\nretrieve_code = \"*81\"\n[lot.outside]\nnumber = \"+15550199\"\npin_hash = \"" + hash + "\"\n",
			"lot[1].outside.number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conf.Parse([]byte(tt.toml), "parkd.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v; want one about %s", err, tt.want)
			}
			if strings.Contains(err.Error(), hash) {
				t.Fatalf("the PIN hash appears in the error: %v", err)
			}
		})
	}
}
