package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
)

// errBadPIN says what a PIN must be, never what was typed.
var errBadPIN = fmt.Errorf("a PIN is %d to %d digits (0-9); nothing printed", parking.MinPINLen, parking.MaxPINLen)

// runPin prints the argon2id hash of an outside pick-up PIN read without
// echo, for pin_hash in [lot.outside]. Only the hash goes to stdout; the
// PIN is never printed.
func runPin(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("pin", "Print the hash of an outside pick-up PIN, for pin_hash in [lot.outside].\n"+
		fmt.Sprintf("A PIN is %d to %d digits. On a terminal it asks for the PIN twice, without echo;\n", parking.MinPINLen, parking.MaxPINLen)+
		"otherwise it reads one line from stdin. Only the hash is printed on stdout.", stderr)
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 { // not quoted: it may well be the PIN
		return Usagef(fs, "takes no arguments: it reads the PIN from the terminal or stdin (on the command line it would stay in the shell's history)")
	}
	pin, err := readPIN(stdin, stderr)
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	hash, err := passhash.Hash(pin)
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	_, err = fmt.Fprintln(stdout, hash)
	return err
}

// readPIN reads the PIN: from a terminal without echo, twice, else one
// line from in. The errors never contain the PIN.
func readPIN(in io.Reader, stderr io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		ask := func(prompt string) (string, error) {
			fmt.Fprint(stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", fmt.Errorf("read the PIN: %w", err)
			}
			return string(b), nil
		}
		pin, err := ask("PIN: ")
		if err != nil {
			return "", err
		}
		if !parking.ValidPIN(pin) {
			return "", errBadPIN
		}
		again, err := ask("Again: ")
		if err != nil {
			return "", err
		}
		if again != pin {
			return "", errors.New("the two PINs differ; nothing printed")
		}
		return pin, nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, parking.MaxPINLen+3)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the PIN from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if !parking.ValidPIN(line) {
		return "", errBadPIN
	}
	return line, nil
}
