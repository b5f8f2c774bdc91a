package podconfig

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// Volume returns the files of a configMap, secret, downwardAPI or
// projected volume, sorted by path. A file that two sources of a
// projected volume both give comes from the later one.
func Volume(src *Source, v cluster.Volume) ([]rtapi.VolumeFile, error) {
	files := map[string]rtapi.VolumeFile{}
	objs := newObjects(src)
	var err error
	switch {
	case v.ConfigMap != nil:
		err = objs.configMapFiles(files, &v.ConfigMap.ConfigMapProjection, v.ConfigMap.DefaultMode)
	case v.Secret != nil:
		err = objs.secretFiles(files, &v.Secret.SecretProjection, v.Secret.DefaultMode)
	case v.DownwardAPI != nil:
		err = downwardFiles(src, files, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			switch {
			case s.ConfigMap != nil:
				err = objs.configMapFiles(files, s.ConfigMap, v.Projected.DefaultMode)
			case s.Secret != nil:
				err = objs.secretFiles(files, s.Secret, v.Projected.DefaultMode)
			case s.DownwardAPI != nil:
				err = downwardFiles(src, files, s.DownwardAPI.Items, v.Projected.DefaultMode)
			}
			if err != nil {
				break
			}
		}
	default:
		return nil, fmt.Errorf("volume %s is not a configMap, secret, downwardAPI or projected volume", v.Name)
	}
	if err != nil {
		return nil, err
	}
	out := make([]rtapi.VolumeFile, 0, len(files))
	for _, p := range slices.Sorted(maps.Keys(files)) {
		out = append(out, files[p])
	}
	return out, nil
}

func fileMode(item *int32, def int32) fs.FileMode {
	if item != nil {
		return fs.FileMode(*item) & fs.ModePerm
	}
	return fs.FileMode(def) & fs.ModePerm
}

// configMapFiles adds a ConfigMap's keys: all of them, each at its own
// name, or only the items.
func (o *objects) configMapFiles(files map[string]rtapi.VolumeFile, p *cluster.ConfigMapProjection, def int32) error {
	data, binary, err := o.configMap(p.Name, p.Optional)
	if err != nil {
		return err
	}
	get := func(k string) ([]byte, bool) {
		if v, ok := data[k]; ok {
			return []byte(v), true
		}
		v, ok := binary[k]
		return v, ok
	}
	keys := slices.Collect(maps.Keys(data))
	keys = append(keys, slices.Collect(maps.Keys(binary))...)
	return project(files, keys, get, p.Items, p.Optional, def, "configmap references non-existent config key: ")
}

func (o *objects) secretFiles(files map[string]rtapi.VolumeFile, p *cluster.SecretProjection, def int32) error {
	data, err := o.secret(p.Name, p.Optional)
	if err != nil {
		return err
	}
	get := func(k string) ([]byte, bool) {
		v, ok := data[k]
		return v, ok
	}
	return project(files, slices.Collect(maps.Keys(data)), get, p.Items, p.Optional, def, "references non-existent secret key: ")
}

// project adds keys as files: every key at its own name when there are
// no items, else each item's key at its path; a missing item key is an
// error (missing says so) unless the source is optional.
func project(files map[string]rtapi.VolumeFile, keys []string, get func(string) ([]byte, bool),
	items []cluster.KeyToPath, optional bool, def int32, missing string) error {
	if len(items) == 0 {
		for _, k := range keys {
			b, _ := get(k)
			files[k] = rtapi.VolumeFile{Path: k, Data: b, Mode: fileMode(nil, def)}
		}
		return nil
	}
	for _, it := range items {
		b, ok := get(it.Key)
		if !ok {
			if optional {
				continue
			}
			return &MissingError{msg: missing + it.Key}
		}
		p := path.Clean(it.Path) // the manifest allows a//b, as Kubernetes does
		files[p] = rtapi.VolumeFile{Path: p, Data: b, Mode: fileMode(it.Mode, def)}
	}
	return nil
}

func downwardFiles(src *Source, files map[string]rtapi.VolumeFile, items []cluster.DownwardAPIFile, def int32) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(src, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = resourceValue(src, "", it.ResourceFieldRef)
		default:
			err = fmt.Errorf("downward API file %s has no source", it.Path)
		}
		if err != nil {
			return err
		}
		p := path.Clean(it.Path)
		files[p] = rtapi.VolumeFile{Path: p, Data: []byte(v), Mode: fileMode(it.Mode, def)}
	}
	return nil
}
