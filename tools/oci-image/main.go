// Command oci-image writes a single-layer OCI image from a root filesystem directory, the same
// bytes for the same input: the layer's entries are sorted, owned by 0:0 and dated at -epoch, and
// every timestamp in the config is -epoch too. It writes an OCI image layout directory and, if
// asked, an archive of it that `ctr images import` and `skopeo copy oci-archive:` read, then
// prints the manifest digest.
//
//	oci-image -rootfs DIR -ref REPOSITORY:TAG -epoch SECONDS -layout DIR [-archive FILE]
//	          [-user UID:GID] [-entrypoint JSON] [-cmd JSON] [-env K=V]... [-port 8443/tcp]...
//	          [-label K=V]... [-annotation K=V]... [-created-by TEXT]
//
// The image format comes from go-containerregistry; this file only walks the directory and
// chooses the fields.
package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pairs is a repeatable KEY=VALUE flag.
type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }

func (p pairs) Set(value string) error {
	key, val, ok := strings.Cut(value, "=")
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", value)
	}
	p[key] = val
	return nil
}

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oci-image:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		rootfs     = flag.String("rootfs", "", "root filesystem directory of the one layer (required)")
		ref        = flag.String("ref", "", "image reference REPOSITORY:TAG (required)")
		epoch      = flag.Int64("epoch", -1, "every timestamp, in seconds since 1970 (required; SOURCE_DATE_EPOCH)")
		layoutDir  = flag.String("layout", "", "OCI image layout directory to write, replaced if it exists (required)")
		archive    = flag.String("archive", "", "also write the layout as one tar file here")
		user       = flag.String("user", "", "config User")
		entrypoint = flag.String("entrypoint", "", "config Entrypoint as a JSON array")
		cmd        = flag.String("cmd", "", "config Cmd as a JSON array")
		createdBy  = flag.String("created-by", "", "the layer's history entry")
		env        list
		ports      list
		labels     = pairs{}
		notes      = pairs{}
	)
	flag.Var(&env, "env", "config Env entry K=V (repeatable)")
	flag.Var(&ports, "port", "exposed port such as 8443/tcp (repeatable)")
	flag.Var(labels, "label", "config label K=V (repeatable)")
	flag.Var(notes, "annotation", "manifest annotation K=V (repeatable)")
	flag.Parse()
	if *rootfs == "" || *ref == "" || *epoch < 0 || *layoutDir == "" || flag.NArg() > 0 {
		flag.Usage()
		return errors.New("-rootfs, -ref, -epoch and -layout are required, and nothing else")
	}
	tag, err := name.NewTag(*ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("-ref %q: %w", *ref, err)
	}
	when := time.Unix(*epoch, 0).UTC()

	layerTar, err := os.CreateTemp("", "oci-image-layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(layerTar.Name())
	if err := writeTree(layerTar, *rootfs, when); err != nil {
		return fmt.Errorf("layer from %s: %w", *rootfs, err)
	}
	if err := layerTar.Close(); err != nil {
		return err
	}
	// Compressed once and pulled by every node: the best ratio is worth its second.
	layer, err := tarball.LayerFromFile(layerTar.Name(), tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return err
	}

	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: when}, CreatedBy: *createdBy},
	})
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: when}
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.User = *user
	cfg.Config.Env = env
	cfg.Config.Labels = labels
	if cfg.Config.Entrypoint, err = jsonArray("-entrypoint", *entrypoint); err != nil {
		return err
	}
	if cfg.Config.Cmd, err = jsonArray("-cmd", *cmd); err != nil {
		return err
	}
	if len(ports) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, port := range ports {
			cfg.Config.ExposedPorts[port] = struct{}{}
		}
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	if len(notes) > 0 {
		img = mutate.Annotations(img, notes).(v1.Image)
	}

	if err := os.RemoveAll(*layoutDir); err != nil {
		return err
	}
	path, err := layout.Write(*layoutDir, empty.Index)
	if err != nil {
		return err
	}
	// ref.name is the tag (OCI layout's convention, what `skopeo copy oci:DIR:TAG` selects);
	// containerd names an imported image by its own annotation, the full reference.
	err = path.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		"io.containerd.image.name":          tag.Name(),
	}))
	if err != nil {
		return err
	}
	if *archive != "" {
		if err := writeArchive(*archive, *layoutDir, when); err != nil {
			return fmt.Errorf("archive %s: %w", *archive, err)
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

func jsonArray(flagName, value string) ([]string, error) {
	if value == "" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(value), &out); err != nil {
		return nil, fmt.Errorf("%s must be a JSON array of strings, got %q: %w", flagName, value, err)
	}
	return out, nil
}

// writeTree writes the tree under root as a tar stream in name order, every entry owned by 0:0
// and dated at when; names are relative to root, directories end in "/".
func writeTree(w io.Writer, root string, when time.Time) error {
	var paths []string
	err := filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err == nil && path != root {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, path := range paths {
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		header, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		header.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			header.Name += "/"
		}
		header.Uid, header.Gid, header.Uname, header.Gname = 0, 0, "", ""
		header.ModTime, header.AccessTime, header.ChangeTime = when, time.Time{}, time.Time{}
		header.Format = tar.FormatPAX
		if err := tw.WriteHeader(header); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			if err := copyFile(tw, path); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func writeArchive(file, dir string, when time.Time) error {
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := writeTree(out, dir, when); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
