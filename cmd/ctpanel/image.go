package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const imageUsage = `usage:
  ctpanel image build RECIPE [--name NAME] [--mirror URL]    build an image (debian-12) from its archive
  ctpanel image import --source URL|DIR --product ID [--version V] [--name NAME]
                                                             import a simplestreams product
  ctpanel image products --source URL|DIR                    list a simplestreams tree's products
  ctpanel image list                                         list the images and their versions

They ask the running panel (--url, default http://LISTEN) with --token, else
CTPANEL_TOKEN, else the admin token saved in the data dir; build and import
print their progress and wait for the end.`

// imageCmd is `ctpanel image ...`: the image store through the running
// panel's API, so that a build from the command line is the same task as
// one from the web panel (recorded, with progress, one per image at once).
func imageCmd(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return errors.New(imageUsage)
	}
	verb := args[0]
	var panelURL, token, name, mirror, source, product, version string
	cfg, fs, err := parse("image "+verb, args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&panelURL, "url", "", "the panel's URL (default http://LISTEN)")
		fs.StringVar(&token, "token", os.Getenv("CTPANEL_TOKEN"), "a staff or admin API token (CTPANEL_TOKEN; default: the saved admin token)")
		fs.StringVar(&name, "name", "", "the image to add the version to")
		fs.StringVar(&mirror, "mirror", "", "the Debian archive to build from")
		fs.StringVar(&source, "source", "", "a simplestreams tree: URL or folder")
		fs.StringVar(&product, "product", "", "a product id of the tree")
		fs.StringVar(&version, "version", "", "the product's version (the newest when empty)")
	})
	if err != nil {
		return err
	}
	if panelURL == "" {
		panelURL = "http://" + cfg.Listen
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin-token"))
		if err != nil {
			return fmt.Errorf("no token: give --token or CTPANEL_TOKEN (%v)", err)
		}
		token = strings.TrimSpace(string(b))
	}
	c := &panelClient{base: strings.TrimRight(panelURL, "/"), token: token}
	switch verb {
	case "build":
		if fs.NArg() != 1 {
			return errors.New("usage: ctpanel image build RECIPE (debian-12)")
		}
		return c.runTask(ctx, "/api/v1/image-builds", map[string]string{"recipe": fs.Arg(0), "name": name, "mirror": mirror})
	case "import":
		return c.runTask(ctx, "/api/v1/image-imports", map[string]string{"source": source, "product": product, "version": version, "name": name})
	case "products":
		var out struct {
			Products []struct {
				ID       string `json:"id"`
				Versions []struct {
					Version string `json:"version"`
				} `json:"versions"`
			} `json:"products"`
		}
		if err := c.call(ctx, "GET", "/api/v1/image-sources?source="+url.QueryEscape(source), nil, &out); err != nil {
			return err
		}
		for _, p := range out.Products {
			newest := ""
			if len(p.Versions) > 0 {
				newest = p.Versions[0].Version
			}
			fmt.Printf("%-40s %d version(s), newest %s\n", p.ID, len(p.Versions), newest)
		}
		return nil
	case "list":
		var out struct {
			Templates []struct {
				Name     string  `json:"name"`
				Origin   string  `json:"origin"`
				Enabled  bool    `json:"enabled"`
				Version  *string `json:"version"`
				Versions []struct {
					Version string `json:"version"`
					SHA256  string `json:"sha256"`
					Size    int64  `json:"size_bytes"`
				} `json:"versions"`
			} `json:"templates"`
		}
		if err := c.call(ctx, "GET", "/api/v1/templates", nil, &out); err != nil {
			return err
		}
		for _, t := range out.Templates {
			state := "enabled"
			if !t.Enabled {
				state = "disabled"
			}
			fmt.Printf("%s (%s, %s)\n", t.Name, t.Origin, state)
			for _, v := range t.Versions {
				fmt.Printf("  %s  %d MB  sha256 %s\n", v.Version, v.Size>>20, v.SHA256)
			}
		}
		return nil
	}
	return fmt.Errorf("image: unknown verb %q\n%s", verb, imageUsage)
}

type panelClient struct {
	base, token string
}

func (c *panelClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is the panel running? %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Message string            `json:"message"`
				Fields  map[string]string `json:"fields"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s %s: %s", method, path, e.Error.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

type taskView struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	Progress string  `json:"progress"`
	Error    string  `json:"error"`
	Template string  `json:"template"`
	Version  *string `json:"version"`
}

// runTask starts a build or import and follows it to its end.
func (c *panelClient) runTask(ctx context.Context, path string, body map[string]string) error {
	for k, v := range body {
		if v == "" {
			delete(body, k)
		}
	}
	var t taskView
	if err := c.call(ctx, "POST", path, body, &t); err != nil {
		return err
	}
	fmt.Printf("task %s: %s\n", t.ID, t.Template)
	last := ""
	for {
		if t.Progress != last {
			fmt.Println("  " + t.Progress)
			last = t.Progress
		}
		switch t.Status {
		case "succeeded":
			fmt.Printf("%s: version %s\n", t.Template, *t.Version)
			return nil
		case "failed":
			return fmt.Errorf("%s: %s", t.Template, t.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if err := c.call(ctx, "GET", "/api/v1/image-tasks/"+t.ID, nil, &t); err != nil {
			return err
		}
	}
}
