package conf_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
)

// Ensure NeedsRestart names each key that cannot change live, only when it
// changed, never lot settings, and never a value.
func TestNeedsRestart(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*conf.Config)
		want   []string
	}{
		{"Nothing", func(*conf.Config) {}, nil},
		{"Instance", func(c *conf.Config) { c.Instance = "pbx2" }, []string{"instance"}},
		{"Listen", func(c *conf.Config) { c.ESL.Listen = "127.0.0.1:9084" }, []string{"esl.listen"}},
		{"Allow", func(c *conf.Config) { c.ESL.Allow = append(c.ESL.Allow, "10.0.0.0/8") }, []string{"esl.allow"}},
		{"AllowOrder", func(c *conf.Config) { c.ESL.Allow = []string{"::1/128", "127.0.0.1/32"} }, []string{"esl.allow"}},
		{"FreeSWITCH", func(c *conf.Config) { c.ESL.FreeSWITCH = "10.0.0.5:8021" }, []string{"esl.freeswitch"}},
		{"Password", func(c *conf.Config) { c.ESL.Password = "N3wSecret" }, []string{"esl.password"}},
		{"CommandTimeout", func(c *conf.Config) { c.ESL.CommandTimeout = time.Second }, []string{"esl.command_timeout"}},
		{"StorePath", func(c *conf.Config) { c.Store.Path = "/var/lib/parkd/parkd.db" }, []string{"store.path"}},
		{"StoreKeep", func(c *conf.Config) { c.Store.Keep = 400 * 24 * time.Hour }, []string{"store.keep"}},
		{"LogLevel", func(c *conf.Config) { c.Log.Level = "debug" }, []string{"log.level"}},
		{"LogFormat", func(c *conf.Config) { c.Log.Format = "console" }, []string{"log.format"}},
		{"BLFEnabled", func(c *conf.Config) { c.BLF.Enabled = true }, []string{"blf.enabled"}},
		{"BLFDomains", func(c *conf.Config) { c.BLF.Domains = []string{"pbx.example.com"} }, []string{"blf.domains"}},
		{"Several", func(c *conf.Config) { c.Log.Level, c.ESL.Listen = "debug", "127.0.0.1:1" }, []string{"esl.listen", "log.level"}},
		{"LotsLive", func(c *conf.Config) {
			c.Lots[0].Music, c.Lots[0].Timeout, c.Lots[0].Recall.Attempts = "local_stream://other", time.Minute, 5
			l := conf.DefaultLot()
			l.Name, l.Slots, l.ParkCode, l.RetrieveCode = "b", "801-820", "*80", "*81"
			l.BLFPrefix, l.BLFLot = "valet+", conf.BLFLotName
			c.Lots = append(c.Lots, l)
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			running, next := conf.Default(), conf.Default()
			tt.change(&next)
			if got := conf.NeedsRestart(running, next); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("NeedsRestart=%q, want %q", got, tt.want)
			}
			if got := conf.NeedsRestart(next, running); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("NeedsRestart(reversed)=%q, want %q", got, tt.want)
			}
			if got := fmt.Sprint(conf.NeedsRestart(running, next)); strings.Contains(got, "N3wSecret") || strings.Contains(got, "ClueCon") {
				t.Fatalf("NeedsRestart shows the password: %s", got)
			}
		})
	}
}

// Ensure every setting outside [[lot]] is either compared by NeedsRestart
// (a new key cannot be forgotten and so silently kept at its old value) or
// a lot setting, which applies live.
func TestNeedsRestart_EveryKey(t *testing.T) {
	base := conf.Default()
	for _, section := range []any{&base.ESL, &base.Store, &base.Log, &base.BLF, &base.HTTP, &base.HA} {
		v := reflect.ValueOf(section).Elem()
		for i := range v.NumField() {
			next := conf.Default()
			nv := reflect.ValueOf(&next).Elem().FieldByName(v.Type().Name()).Field(i)
			switch nv.Kind() {
			case reflect.String:
				nv.SetString(nv.String() + "x")
			case reflect.Bool:
				nv.SetBool(!nv.Bool())
			case reflect.Int64:
				nv.SetInt(nv.Int() + 1)
			case reflect.Slice:
				nv.Set(reflect.MakeSlice(nv.Type(), 1, 1))
			default:
				t.Fatalf("%s.%s: kind %s not covered by this test", v.Type().Name(), v.Type().Field(i).Name, nv.Kind())
			}
			if got := conf.NeedsRestart(base, next); len(got) != 1 {
				t.Errorf("changing %s.%s: NeedsRestart=%q, want one key", v.Type().Name(), v.Type().Field(i).Name, got)
			}
		}
	}
	if got, want := reflect.TypeFor[conf.Config]().NumField(), 10; got != want { // 9: webhooks need a restart (webhook_test.go); 10: nodes too (nodes_test.go)
		t.Fatalf("Config has %d fields, want %d: decide whether the new one applies live and update NeedsRestart", got, want)
	}
}

// Ensure the default instance is esl's (the host name made safe), which
// validates.
func TestDefaultInstance(t *testing.T) {
	got := esl.DefaultInstance()
	if got == "" || len(got) > conf.MaxInstanceLen || strings.Trim(got, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
		t.Fatalf("DefaultInstance()=%q, want 1 to 64 safe characters", got)
	}
	c := conf.Default()
	if c.Instance != got {
		t.Fatalf("Default().Instance=%q, want %q", c.Instance, got)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := conf.Parse([]byte(`instance = "pbx-1.example_com"`), "parkd.toml")
	if err != nil || p.Instance != "pbx-1.example_com" {
		t.Fatalf("Parse(instance)=%q, %v", p.Instance, err)
	}
}
