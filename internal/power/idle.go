package power

import (
	"context"
	"fmt"

	"github.com/veille/veille/drivers/usbdisk"
)

// SpinDownIdle spins one configured disk down without unmounting it, as
// hd-idle does when usbdisk.IdleMonitor says it has seen no I/O for its
// idle time: the filesystem stays mounted and the drive spins up again on
// the next access. It goes through the controller so it never overlaps a
// sleep or wake sequence (ErrBusy), and it is measured like the others.
// A disk put to sleep by DisksAsleep is left alone.
func (c *Controller) SpinDownIdle(ctx context.Context, name string) error {
	var cfg *Disk
	for i := range c.o.Disks {
		if c.o.Disks[i].Name == name {
			cfg = &c.o.Disks[i]
		}
	}
	if cfg == nil {
		return fmt.Errorf("idle-spin-down: no disk named %q", name)
	}
	r, end, err := c.begin(ctx, "idle-spin-down")
	if err != nil {
		return err
	}
	defer end()
	if c.asleep != nil {
		r.note(name, StepSpinDown, Skipped, "the disks are asleep")
		return nil
	}
	if cfg.SkipSpinDown {
		r.note(name, StepSpinDown, Skipped, "not spun down (configured)")
		return nil
	}
	var d *usbdisk.Disk
	err = r.look(name, StepFind, "find the filesystem with "+cfg.id(), func() (result, error) {
		var err error
		d, err = c.find(*cfg)
		if err != nil {
			return result{}, err
		}
		return result{detail: fmt.Sprintf("%s on disk %s", d.Partition, d.Name)}, nil
	})
	if err != nil {
		return err
	}
	mode := cfg.SpinDown
	if mode == "" {
		mode = usbdisk.ModeAuto
	}
	before, haveBefore := r.readPower(name, cfg.PowerChannel)
	err = r.do(name, StepSpinDown, "send "+describeCommands(usbdisk.SpinDownCommands(mode))+" to "+d.Dev, func() (result, error) {
		cmd, err := usbdisk.SpinDown(c.o.Transport, d.Dev, mode, c.o.CommandTimeout)
		return result{detail: "stopped with " + cmd.Name}, err
	})
	if err != nil {
		return err
	}
	if haveBefore {
		r.confirm(name, cfg.PowerChannel, before, cfg.MinSaving, "spin-down")
	}
	return nil
}
